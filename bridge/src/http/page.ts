// The dashboard's pages (bridge/web, built into dist/web): the referrer's at
// /, the operator's at /operator, their style sheet and every compiled
// module, read once at start and served from memory.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../project-paths.js';
import { ProductError } from '../errors.js';
import { errorReply, type Handler, type Route } from './exchange.js';

const javascript = 'text/javascript; charset=utf-8';

export function pageRoutes(): Route[] {
  const builtDir = path.join(projectRoot, 'dist', 'web');
  // The pages' modules at /<name>.js, and the client's at /src/client/<name>.js, where their relative imports point.
  const modules = (folder: string, prefix: string): Array<[string, string, string]> => {
    const location = path.join(builtDir, folder);
    return existsSync(location)
      ? readdirSync(location).filter((name) => name.endsWith('.js')).map((name) => [`${prefix}/${name}`, `${folder}/${name}`, javascript])
      : [];
  };
  const files: Array<[pattern: string, file: string, contentType: string]> = [
    ['/', 'index.html', 'text/html; charset=utf-8'],
    ['/operator', 'operator.html', 'text/html; charset=utf-8'],
    ['/style.css', 'style.css', 'text/css; charset=utf-8'],
    ...modules('web', ''),
    ...modules('src/client', '/src/client'),
  ];
  return files.map(([pattern, file, contentType]) => {
    const location = path.join(builtDir, file);
    const body = existsSync(location) ? readFileSync(location, 'utf8') : undefined;
    const handler: Handler = () => body === undefined
      ? errorReply(new ProductError('PAGE_NOT_BUILT', 'the page is not built: run npm run build'))
      : { status: 200, body, contentType, headers: { 'cache-control': 'no-cache' } };
    // The referrer's page reads ?user= itself, in the browser.
    return { method: 'GET' as const, pattern, query: pattern === '/' ? ['user'] : [], handler };
  });
}
