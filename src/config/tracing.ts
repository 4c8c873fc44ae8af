/** Whether to trace with OpenTelemetry: the option, else `TAIAT_TRACING` (`1` or `true`). */
export function tracingFrom(option: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return option ?? /^(1|true)$/i.test(env.TAIAT_TRACING ?? '');
}
