// GET /openapi.json: docs/openapi.yaml, the API's description, as JSON.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../project-paths.js';
import type { Route } from './exchange.js';

export const openApiFile = path.join(projectRoot, 'docs', 'openapi.yaml');

export function openApiRoute(): Route {
  const body = JSON.stringify(parse(readFileSync(openApiFile, 'utf8')));
  return { method: 'GET', pattern: '/openapi.json', query: [], handler: () => ({ status: 200, body }) };
}
