// The live earnings page (bridge/web, built into dist/web): a few static
// files, read once at start and served from memory.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../project-paths.js';
import { ProductError } from '../errors.js';
import { errorReply, type Handler, type Route } from './exchange.js';

const files: Record<string, [file: string, contentType: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/app.js': ['web/app.js', 'text/javascript; charset=utf-8'],
  '/src/client/referral-client.js': ['src/client/referral-client.js', 'text/javascript; charset=utf-8'],
};

export function pageRoutes(): Route[] {
  const builtDir = path.join(projectRoot, 'dist', 'web');
  return Object.entries(files).map(([pattern, [file, contentType]]) => {
    const location = path.join(builtDir, file);
    const body = existsSync(location) ? readFileSync(location, 'utf8') : undefined;
    const handler: Handler = () => body === undefined
      ? errorReply(new ProductError('PAGE_NOT_BUILT', 'the page is not built: run npm run build'))
      : { status: 200, body, contentType, headers: { 'cache-control': 'no-cache' } };
    return { method: 'GET' as const, pattern, handler };
  });
}
