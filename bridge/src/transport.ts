// uWebSockets.js, and whether it runs natively. The package falls back to a
// slower JavaScript implementation when its native build does not fit this
// Node.js; the bridge reports which one it got at start-up and in /health.

import uWS, { type HttpRequest } from 'uWebSockets.js';

export { uWS };

export type Transport = 'native' | 'fallback';

export const transport: Transport = String(uWS.App).includes('[native code]') ? 'native' : 'fallback';

/**
 * A request's query string. The fallback's getQuery() throws on every
 * request (it parses the relative URL as absolute), and its getUrl() keeps
 * the query: both transports give the same answer through these two helpers.
 */
export function queryOf(req: HttpRequest): string {
  try {
    return req.getQuery() ?? '';
  } catch {
    const url = req.getUrl();
    return url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  }
}

/** A request's path, without any query. */
export function pathOf(req: HttpRequest): string {
  const url = req.getUrl();
  return url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
}
