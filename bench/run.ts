// `npm run bench [-- --full] [-- --only 2,3]`: how fast the engine is, next
// to what the database itself does on this machine, on each transport, with
// a correctness check in every scenario (the run exits 1 if one fails).
// Every scenario is a file in scenarios/; this runs them in order, prints one
// table, and writes bench/results/<timestamp>.json and .md. Every load
// targets only this machine and is bounded in count and time.

import os from 'node:os';
import { createBenchDatabase, createFixture } from './database.js';
import { readOptions } from './options.js';
import { headline, newReport, textTable, transportRatios, writeResults, type RunDescription } from './report.js';
import { runScenarios } from './runner.js';
import { scenarios } from './scenarios/index.js';
import { transportsToMeasure } from './transports.js';

async function main(): Promise<number> {
  const options = readOptions(process.argv.slice(2), scenarios.map((scenario) => scenario.id));
  const chosen = scenarios.filter((scenario) => options.only?.includes(scenario.id) ?? true);
  const transports = transportsToMeasure();
  const db = await createBenchDatabase();
  const cpus = os.cpus();
  const run: RunDescription = {
    at: new Date().toISOString(),
    full: options.full,
    seconds: options.seconds,
    machine: `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
    node: process.version,
    transports: transports.description,
    database: db.description,
    scenarios: chosen.map((scenario) => scenario.id),
  };
  process.stdout.write(`npm run bench: ${headline(run)}\n`);
  const report = newReport();
  try {
    const fixture = await createFixture(db.sql);
    await runScenarios(chosen, { ...options, db, fixture, transports: transports.names, report });
  } finally {
    await db.drop();
  }

  const rows = [...report.rows, ...transportRatios(report.rows)].sort((a, b) => parseInt(a.scenario, 10) - parseInt(b.scenario, 10));
  process.stdout.write(`\n${headline(run)}\n\n${textTable(rows)}\n\n`);
  const written = await writeResults(run, rows, report.failures);
  process.stdout.write(`wrote ${written}.json and .md\n`);
  if (report.failures.length > 0) {
    process.stdout.write(`CORRECTNESS CHECKS FAILED:\n${report.failures.map((failure) => `  ${failure}`).join('\n')}\n`);
    return 1;
  }
  process.stdout.write('every correctness check passed\n');
  return 0;
}

process.exitCode = await main().catch((error: unknown) => {
  process.stderr.write(`npm run bench: ${error instanceof Error ? error.message : String(error)}\n`);
  return 2;
});
