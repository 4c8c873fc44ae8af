/**
 * Child processes of the bench and soak harnesses, all killed when the harness exits (normally,
 * on a signal or on a crash), and the routing of signals and crashes to the harness's shutdown.
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();

/** Registers a child to be killed on exit; it leaves the register when it exits. */
export function trackChild(child: ChildProcess): void {
  live.add(child);
  child.on('exit', () => live.delete(child));
}

/** For a child that will never exit (it failed to spawn). */
export function untrackChild(child: ChildProcess): void {
  live.delete(child);
}

/** Kills every child still alive (SIGKILL): used on exit paths, synchronous. */
export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

process.on('exit', killAllChildren);

/** Sends SIGINT, SIGTERM, uncaught errors and unhandled rejections to `shutdown(code, why)`. */
export function shutdownOnSignalsAndCrashes(shutdown: (code: number, why: string) => unknown, onInterrupt: string): void {
  process.on('SIGINT', () => void shutdown(130, `interrupted: ${onInterrupt}`));
  process.on('SIGTERM', () => void shutdown(143, `terminated: ${onInterrupt}`));
  process.on('uncaughtException', (error) => void shutdown(1, `uncaught: ${error.stack ?? error}`));
  process.on('unhandledRejection', (error) => void shutdown(1, `unhandled rejection: ${(error as Error)?.stack ?? error}`));
}
