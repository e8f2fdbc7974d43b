// Where the project's own files are, whether this code runs from source
// (bridge/src) or from the build (dist/bridge/src).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'db', 'migrations'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the project root (the folder holding db/migrations)');
    dir = parent;
  }
  return dir;
}

export const projectRoot = findProjectRoot();
export const migrationsDir = path.join(projectRoot, 'db', 'migrations');
export const demoDataFile = path.join(projectRoot, 'db', 'demo-data.sql');
