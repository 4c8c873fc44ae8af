/**
 * Worker processes of the benchmark: spawned with an IPC channel, every wait bounded, and all of
 * them killed when the orchestrator exits (normally, on a signal, or on a crash).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { trackChild, untrackChild } from './processes.js';
import { clockOffset, withTimeout } from './time.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Message = { type: string; [key: string]: any };

export class BenchChild {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly #inbox: Message[] = [];
  readonly #waiters = new Set<{ type: string; resolve: (m: Message) => void }>();
  #output = '';
  #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  /** `execPath`: the Node that runs `script` (default: this process's). */
  constructor(name: string, script: string, env: Record<string, string>, cwd: string, execPath = process.execPath) {
    this.name = name;
    // BENCH_CHILD_NODE_ARGS: extra node flags for worker processes (e.g. --cpu-prof), for diagnosis.
    const nodeArgs = (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    this.proc = spawn(execPath, [...nodeArgs, script], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    trackChild(this.proc);
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-20_000);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    this.proc.on('message', (m: Message) => this.#deliver(m));
    this.#exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.#exitInfo = { code, signal };
        resolve({ code, signal });
      });
      this.proc.on('error', (error) => {
        this.#output += `\nspawn error: ${error.message}`;
        untrackChild(this.proc);
        this.#exitInfo = { code: -1, signal: null };
        resolve({ code: -1, signal: null });
      });
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** The tail of the child's stdout and stderr. */
  output(): string {
    return this.#output.trim();
  }

  /** Messages of a type received so far (not consumed). */
  received(type: string): Message[] {
    return this.#inbox.filter((m) => m.type === type);
  }

  #deliver(message: Message): void {
    for (const waiter of this.#waiters) {
      if (waiter.type === message.type) {
        this.#waiters.delete(waiter);
        waiter.resolve(message);
        return;
      }
    }
    this.#inbox.push(message);
  }

  /** The next message of `type` (one already received counts), within `ms`. */
  async next(type: string, ms: number): Promise<Message> {
    const index = this.#inbox.findIndex((m) => m.type === type);
    if (index >= 0) return this.#inbox.splice(index, 1)[0]!;
    let waiter: { type: string; resolve: (m: Message) => void } | undefined;
    const got = new Promise<Message>((resolve) => {
      waiter = { type, resolve };
      this.#waiters.add(waiter);
    });
    const died = this.#exited.then(({ code, signal }) => {
      throw new Error(`${this.name} exited (code ${code}, signal ${signal}) while waiting for '${type}'\n${this.output()}`);
    });
    try {
      return await withTimeout(Promise.race([got, died]), ms, `${this.name}: waiting for '${type}'`);
    } finally {
      this.#waiters.delete(waiter!);
    }
  }

  send(message: Message): void {
    if (this.proc.connected) this.proc.send(message);
  }

  /** Sends `message` and waits for the reply of type `replyType`. */
  async request(message: Message, replyType: string, ms: number): Promise<Message> {
    this.send(message);
    return this.next(replyType, ms);
  }

  /** Estimates (child clock - parent clock) in ms from IPC ping-pongs. */
  async clockOffset(samples = 20): Promise<{ offsetMs: number; rttMs: number }> {
    return clockOffset(samples, async (i) => (await this.request({ type: 'ping', id: i }, 'pong', 5_000)).t as number);
  }

  /** Asks the child to stop gracefully; kills it if it has not exited within `ms`. */
  async stop(ms = 30_000): Promise<void> {
    if (this.#exitInfo) return;
    this.send({ type: 'stop' });
    try {
      await withTimeout(this.#exited, ms, `${this.name}: graceful stop`);
    } catch {
      this.proc.kill('SIGKILL');
      await withTimeout(this.#exited, 5_000, `${this.name}: kill`).catch(() => {});
    }
  }

  kill(): void {
    if (!this.#exitInfo) this.proc.kill('SIGKILL');
  }
}
