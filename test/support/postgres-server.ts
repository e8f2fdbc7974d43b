// The PostgreSQL server the tests run against, in this order of preference:
// TEST_DATABASE_URL (or DATABASE_URL); TEST_PG_IMAGE in a container when a
// Docker engine is reachable; else an embedded PostgreSQL in a temporary
// folder on a free port. The URL it gives may create and drop databases.

import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startEmbeddedDatabase } from '../../bridge/src/embedded-database.js';

export interface PostgresServer {
  adminUrl: string;
  description: string;
  stop(): Promise<void>;
}

const silent = pino({ level: 'silent' });

export async function startPostgresServer(env = process.env): Promise<PostgresServer> {
  const url = env.TEST_DATABASE_URL || env.DATABASE_URL;
  if (url) return { adminUrl: url, description: 'TEST_DATABASE_URL', stop: async () => undefined };
  if (env.TEST_PG_IMAGE) {
    const container = await startContainer(env.TEST_PG_IMAGE);
    if (container) return container;
  }
  return startEmbedded();
}

async function startContainer(image: string): Promise<PostgresServer | undefined> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    console.warn(`TEST_PG_IMAGE=${image} is set but no Docker engine is reachable; using the embedded PostgreSQL`);
    return undefined;
  }
  const container = await new GenericContainer(image)
    .withEnvironment({ POSTGRES_PASSWORD: 'postgres' })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  return {
    adminUrl: `postgres://postgres:postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`,
    description: `container ${image}`,
    stop: async () => {
      await container.stop();
    },
  };
}

async function startEmbedded(): Promise<PostgresServer> {
  const parent = await mkdtemp(path.join(os.tmpdir(), 'referral-test-'));
  // As root, PostgreSQL runs as the postgres user, which must reach the folder.
  await chmod(parent, 0o755);
  const database = await startEmbeddedDatabase({ dataDir: path.join(parent, 'postgres'), port: await freePort() }, silent);
  return {
    adminUrl: database.url,
    description: 'embedded PostgreSQL',
    stop: async () => {
      await database.stop();
      await rm(parent, { recursive: true, force: true });
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
