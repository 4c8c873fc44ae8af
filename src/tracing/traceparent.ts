/** A span context as a W3C traceparent carries it. */
export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** `00-<trace id>-<span id>-<flags>` (W3C Trace Context, version 00); null for an invalid context. */
export function formatTraceparent(context: ParsedTraceparent): string | null {
  if (/^0+$/.test(context.traceId) || /^0+$/.test(context.spanId)) return null;
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The span context of a stored traceparent; null when it is not one (all-zero ids included). */
export function parseTraceparent(value: string): ParsedTraceparent | null {
  const match = TRACEPARENT.exec(value);
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return null;
  return { traceId: match[1]!, spanId: match[2]!, traceFlags: parseInt(match[3]!, 16) };
}
