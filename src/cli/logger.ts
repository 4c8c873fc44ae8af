import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * pino's message of an error with its causes, leaving out a cause whose message is already in the
 * text: taiat's errors quote the driver's reason (`cannot reach the database at ...: connect
 * ECONNREFUSED ...`) and keep the driver's error as `cause`, so pino's own rule printed it twice.
 */
export function messageWithNewCauses(error: Error): string {
  let text = error.message;
  const seen = new Set<unknown>([error]);
  for (let cause = error.cause; cause instanceof Error && !seen.has(cause); cause = cause.cause) {
    seen.add(cause);
    if (cause.message && !text.includes(cause.message)) text += `: ${cause.message}`;
  }
  return text;
}

function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error);
  if (error instanceof Error) serialized.message = messageWithNewCauses(error);
  return serialized;
}

/** pino on stderr: JSON, or pretty lines when stderr is a terminal. */
export async function createCliLogger(level: string): Promise<Logger> {
  const options = { level, base: { pid: process.pid }, serializers: { err: serializeError } };
  if (process.stderr.isTTY) {
    const { default: pretty } = await import('pino-pretty');
    return pino(options, pretty({ destination: 2, sync: true, colorize: true }));
  }
  return pino(options, pino.destination({ fd: 2, sync: true }));
}
