import net from 'node:net';

/**
 * A TCP proxy in front of Postgres that can cut connections the way a crashing server does (a
 * TCP reset, so the client reads ECONNRESET), either all at once or the moment a connection sends
 * the driver's array-type query (postgres.js sends it first on each new connection).
 */
export interface ResetProxy {
  /** `url` with its host and port replaced by the proxy's. */
  url: string;
  /** How many array-type queries passed through (or were cut). */
  typeFetches(): number;
  /** Cuts every open connection. */
  resetAll(): void;
  /** While on, a connection is cut when it sends the array-type query. */
  cutTypeFetches(on: boolean): void;
  close(): Promise<void>;
}

// The driver's type query selects from pg_type grouped by element type; no query of ours does.
const TYPE_QUERY = Buffer.from("where a.typcategory = 'A'");

export async function startResetProxy(url: string): Promise<ResetProxy> {
  const target = new URL(url);
  const pairs = new Set<[net.Socket, net.Socket]>();
  let fetches = 0;
  let cutting = false;
  const cut = (pair: [net.Socket, net.Socket]) => {
    pairs.delete(pair);
    for (const s of pair) if (!s.destroyed) s.resetAndDestroy();
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (chunk.includes(TYPE_QUERY)) {
        fetches += 1;
        if (cutting) return cut(pair);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const s of pair) {
      s.on('error', () => cut(pair));
      s.on('close', () => cut(pair));
    }
  });
  return {
    url: await listenFor(server, url),
    typeFetches: () => fetches,
    resetAll: () => [...pairs].forEach(cut),
    cutTypeFetches: (on) => (cutting = on),
    close: async () => {
      [...pairs].forEach(cut);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Starts a proxy's server on a free local port; returns `url` pointed at it. */
export async function listenFor(server: net.Server, url: string): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as net.AddressInfo).port);
  return proxied.toString();
}
