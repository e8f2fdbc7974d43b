// Runs `npm run build` only when a source of the build is newer than the
// last build, so that `npm start`, `npm run watch` and `npm run worker` start
// at once when nothing changed (the prestart/prewatch/preworker scripts).

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const stamp = path.join(root, 'dist', '.built-at');
const sources = ['bridge/src', 'bridge/web', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];

function newestChange(entry) {
  const stats = statSync(entry);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return Math.max(stats.mtimeMs, ...readdirSync(entry).map((name) => newestChange(path.join(entry, name))));
}

const builtAt = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const changedAt = Math.max(...sources.map((source) => newestChange(path.join(root, source))));
if (changedAt >= builtAt) {
  const startedAt = new Date();
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  // Stamped with the time the build started: a file saved during it counts as changed.
  writeFileSync(stamp, '');
  utimesSync(stamp, startedAt, startedAt);
}
