import net from 'node:net';
import postgres from 'postgres';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createWorkerMetrics, serveMetrics, Worker } from '../../src/index.js';
import { useTestDatabase } from '../support/database.js';
import { listenFor } from '../support/reset-proxy.js';
import { waitFor } from '../support/wait.js';

const db = useTestDatabase();

/**
 * A TCP proxy in front of Postgres that can go silent, as a database host does when it stops
 * answering: open connections are cut, new ones are accepted and never answered, so the driver
 * waits out its connect timeout. Counts the connections it accepts.
 */
async function startSilencingProxy(url: string) {
  const target = new URL(url);
  const sockets = new Set<net.Socket>();
  let silent = false;
  let accepted = 0;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = net.createServer((client) => {
    accepted += 1;
    track(client);
    if (silent) return;
    const upstream = net.connect(Number(target.port), target.hostname);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return {
    url: await listenFor(server, url),
    accepted: () => accepted,
    silence(on: boolean) {
      silent = on;
      if (on) for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('metrics during a database outage', () => {
  it('answers /metrics within the read deadline, with the last gauge values and taiat_queue_scrape_ok 0, one read at a time', async () => {
    await db.sql`TRUNCATE taiat_jobs, taiat_job_history, taiat_workers`;
    await db.sql`INSERT INTO taiat_jobs (id, job_type, name) VALUES ('o-1', 'agent', 'a'), ('o-2', 'agent', 'a')`;
    await db.sql`
      INSERT INTO taiat_workers (id, hostname, pid, concurrency, version, heartbeat_seconds, last_heartbeat_at)
      VALUES ('live', 'h', 1, 4, 'x', 10, now())`;
    const proxy = await startSilencingProxy(db.url);
    onTestFinished(() => proxy.close());
    // The worker's pool settings that matter here: its connect timeout (10 s) and size.
    const sql = postgres(proxy.url, { max: 10, connect_timeout: 10, prepare: false, onnotice: () => {} });
    onTestFinished(() => sql.end({ timeout: 0 }));
    const worker = new Worker({ agents: { noop: async () => null } });
    const server = await serveMetrics(createWorkerMetrics(worker, sql, 4, { readDeadlineMs: 1000 }), sql, 0, '127.0.0.1');
    onTestFinished(() => server.close());
    const scrape = async () => {
      const started = performance.now();
      const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      const metric = (line: string) => text.split('\n').find((l) => l.startsWith(`${line} `))?.split(' ').pop();
      return { seconds: (performance.now() - started) / 1000, metric };
    };

    const before = await scrape();
    expect([before.metric('taiat_queue_scrape_ok'), before.metric('taiat_jobs_ready{queue="default"}'), before.metric('taiat_workers_live')])
      .toEqual(['1', '2', '1']);

    proxy.silence(true);
    const during = await scrape();
    // Before the fix: the scrape waited for the driver's 10 s connect timeout (Prometheus gives up
    // at 10 s: the whole scrape lost, counters included).
    expect(during.seconds).toBeLessThan(1 + 1.5);
    expect(during.metric('taiat_queue_scrape_ok')).toBe('0');
    // The last values read: a dashboard does not drop to zero, and no live worker is not claimed.
    expect(during.metric('taiat_jobs_ready{queue="default"}')).toBe('2');
    expect(during.metric('taiat_workers_live')).toBe('1');
    expect(during.metric('taiat_worker_free_slots')).toBe('4');

    // Later scrapes wait for the read still in flight: no new statement, no new connection.
    const connections = proxy.accepted();
    const again = await Promise.all([scrape(), scrape()]);
    const third = await scrape();
    for (const s of [...again, third]) {
      expect(s.seconds).toBeLessThan(1 + 1.5);
      expect(s.metric('taiat_queue_scrape_ok')).toBe('0');
      expect(s.metric('taiat_jobs_ready{queue="default"}')).toBe('2');
    }
    expect(proxy.accepted()).toBe(connections);

    // Back: once the late read has failed, the next scrape reads afresh.
    proxy.silence(false);
    await db.sql`DELETE FROM taiat_jobs WHERE id = 'o-1'`;
    await waitFor(async () => (await scrape()).metric('taiat_queue_scrape_ok') === '1', 'a good read after the outage', 20_000);
    expect((await scrape()).metric('taiat_jobs_ready{queue="default"}')).toBe('1');
  }, 40_000);
});
