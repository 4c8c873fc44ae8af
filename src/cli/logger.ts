import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** pino on stderr: JSON, or pretty lines when stderr is a terminal. */
export async function createCliLogger(level: string): Promise<Logger> {
  const options = { level, base: { pid: process.pid } };
  if (process.stderr.isTTY) {
    const { default: pretty } = await import('pino-pretty');
    return pino(options, pretty({ destination: 2, sync: true, colorize: true }));
  }
  return pino(options, pino.destination({ fd: 2, sync: true }));
}
