// Once per test run: start (or reach) PostgreSQL and migrate one template
// database. Each test file then clones the template (test/support/database.ts).

import { execFileSync } from 'node:child_process';
import postgres from 'postgres';
import { pino } from 'pino';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../bridge/src/migrate.js';
import { projectRoot } from '../../bridge/src/project-paths.js';
import { startPostgresServer } from './postgres-server.js';
import { databaseUrlFor } from './database-url.js';
import { onlyRow } from './rows.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
    templateDatabase: string;
  }
}

export default async function setup(project: TestProject) {
  // Tests that run the bridge as its own process run the build, as npm start does.
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: projectRoot, stdio: 'inherit' });
  const server = await startPostgresServer();
  const templateDatabase = `referral_template_${process.pid}_${Date.now()}`;
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE DATABASE ${templateDatabase}`);
  await migrate(databaseUrlFor(server.adminUrl, templateDatabase), pino({ level: 'silent' }));
  // A template can be cloned only once its last connection (the migration's) is gone.
  for (let waited = 0; waited < 5000; waited += 20) {
    const { count } = onlyRow(await admin<{ count: number }[]>`SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = ${templateDatabase}`);
    if (count === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  console.log(`tests run on ${server.description}, template database ${templateDatabase}`);

  project.provide('adminDatabaseUrl', server.adminUrl);
  project.provide('templateDatabase', templateDatabase);

  return async () => {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${templateDatabase} WITH (FORCE)`);
    await admin.end();
    await server.stop();
  };
}
