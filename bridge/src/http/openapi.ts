// GET /openapi.json: docs/openapi.yaml, the API's description, as JSON.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../project-paths.js';
import type { Handler } from './exchange.js';

export const openApiFile = path.join(projectRoot, 'docs', 'openapi.yaml');

export function openApiRoute(): { method: 'get'; handler: Handler } {
  const body = JSON.stringify(parse(readFileSync(openApiFile, 'utf8')));
  return { method: 'get', handler: () => ({ status: 200, body }) };
}
