// One HTTP request and its answer, whatever transport carries it: find the
// route (404, or 405 with Allow), refuse ambiguous framing, run the handler,
// and turn what it throws into a JSON error with the status http/statuses.ts
// gives its code. Nothing but a product error's code and message leaves.

import { parse as parseLosslessJson } from 'lossless-json';
import { ProductError, internalError } from '../errors.js';
import { productErrorFromDatabase } from '../database-errors.js';
import { firstUnknown, listed, queryOf, type Query } from '../input.js';
import type { Logger } from '../log.js';
import type { IncomingRequest, OutgoingReply, RequestHandler } from '../transport/transport.js';
import { httpStatusOf } from './statuses.js';

export const maxBodyBytes = 16 * 1024;

/** The headers the bridge reads; each holds one value, so a request that repeats one is refused (REPEATED_HEADER). */
const headerNames = ['content-type', 'authorization', 'idempotency-key', 'x-twilio-signature'] as const;
export type HeaderName = (typeof headerNames)[number];

/** How each header is written in messages. */
const headerSpelling: Record<HeaderName, string> = {
  'content-type': 'Content-Type', authorization: 'Authorization', 'idempotency-key': 'Idempotency-Key', 'x-twilio-signature': 'X-Twilio-Signature',
};

export interface Request {
  method: string;
  path: string;
  /** Reading a parameter given more than once throws REPEATED_PARAMETER. */
  query: Query;
  /** The values of the route's :parameters, in order. */
  params: string[];
  /** A header's value (checkHeaders made sure there is at most one); undefined when the request has none. */
  header(name: HeaderName): string | undefined;
  /** The body as JSON, every number kept as the digits sent (a LosslessNumber); rejects with a ProductError. */
  json(): Promise<unknown>;
  /** As json(), but undefined for a request with no body at all (no content-type, nothing sent). */
  optionalJson(): Promise<unknown>;
  /** The body as an HTML form; rejects with a ProductError. */
  form(): Promise<Record<string, string>>;
}

export interface Reply {
  status: number;
  /** JSON text or a value to serialise; strings are sent as they are. */
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

export type Handler = (request: Request) => Promise<Reply> | Reply;

export interface Route {
  method: 'GET' | 'POST';
  /** "/api/earnings/:userId": a segment starting with ":" matches any one segment. */
  pattern: string;
  /** The query parameters it reads; a request with any other is refused (UNKNOWN_PARAMETER), since a misspelt one would be ignored. */
  query: readonly string[];
  handler: Handler;
}

export interface ExchangeObserver {
  log: Logger;
  onAnswered(route: string, method: string, status: number): void;
}

export function httpApp(routes: Route[], observer: ExchangeObserver): RequestHandler {
  const compiled = routes.map((route) => ({ ...route, segments: route.pattern.split('/') }));
  return (incoming, respond) => {
    const matches = compiled.flatMap((route) => {
      const params = matchPath(route.segments, incoming.path);
      return params ? [{ route, params }] : [];
    });
    const match = matches.find(({ route }) => route.method === incoming.method);
    const routeName = match?.route.pattern ?? matches[0]?.route.pattern ?? '(unknown)';
    const answer = (reply: Reply, closeConnection = false) => {
      respond(toOutgoing(reply, closeConnection));
      observer.onAnswered(routeName, incoming.method, reply.status);
    };
    const fail = (error: unknown) => {
      const known = error instanceof ProductError ? error : productErrorFromDatabase(error);
      if (!known) observer.log.error({ err: error, route: routeName }, 'request failed');
      const failure = known ?? internalError();
      answer(errorReply(failure), failure.code === 'BODY_TOO_LARGE' || failure.code === 'INVALID_CONTENT_LENGTH');
    };

    if (!match) {
      const allowed = [...new Set(matches.map(({ route }) => route.method))].join(', ');
      if (allowed) answer(errorReply(new ProductError('METHOD_NOT_ALLOWED', `${routeName} accepts ${allowed} only`), { allow: allowed }));
      else answer(errorReply(new ProductError('NOT_FOUND', `there is no ${incoming.method} ${incoming.path}`)));
      return;
    }
    const framing = checkFraming(incoming) ?? checkHeaders(incoming) ?? checkParameters(incoming, match.route);
    if (framing) {
      fail(framing);
      return;
    }
    Promise.resolve()
      .then(() => match.route.handler(requestOf(incoming, match.params)))
      .then((reply) => answer(reply), fail);
  };
}

function matchPath(segments: string[], path: string): string[] | undefined {
  const parts = path.split('/');
  if (parts.length !== segments.length) return undefined;
  const params: string[] = [];
  for (const [index, segment] of segments.entries()) {
    const part = parts[index]!;
    if (segment.startsWith(':')) {
      if (part === '') return undefined;
      params.push(part);
    } else if (segment !== part) {
      return undefined;
    }
  }
  return params;
}

function requestOf(incoming: IncomingRequest, params: string[]): Request {
  const bodyOfType = async (mediaType: string, description: string): Promise<string> => {
    if (mediaTypeOf(incoming.headers.get('content-type')?.[0]) !== mediaType) {
      await incoming.body().catch(() => undefined);
      throw new ProductError('UNSUPPORTED_MEDIA_TYPE', `send the body as ${description} with content-type: ${mediaType}`);
    }
    return (await incoming.body()).toString('utf8');
  };
  return {
    method: incoming.method,
    path: incoming.path,
    query: queryOf(incoming.query, (name) =>
      new ProductError('REPEATED_PARAMETER', `the query parameter ${name} is given more than once; give it once`, { source: 'query' })),
    params,
    header: (name) => incoming.headers.get(name)?.[0],
    json: async () => parseJsonExactly(await bodyOfType('application/json', 'JSON')),
    optionalJson: async () => {
      const none = incoming.headers.get('content-type') === undefined && (await incoming.body()).length === 0;
      return none ? undefined : parseJsonExactly(await bodyOfType('application/json', 'JSON'));
    },
    form: async () => Object.fromEntries(new URLSearchParams(await bodyOfType('application/x-www-form-urlencoded', 'a form'))),
  };
}

/**
 * Refuses a request whose body could be framed two ways (RFC 9112, section
 * 6.3): more than one Content-Length. Its connection is closed after the answer.
 */
function checkFraming(incoming: IncomingRequest): ProductError | undefined {
  if ((incoming.headers.get('content-length')?.length ?? 0) > 1) {
    return new ProductError('INVALID_CONTENT_LENGTH', 'the request has more than one Content-Length header; send one');
  }
  return undefined;
}

/**
 * Refuses a request that repeats a header the bridge reads: two
 * Idempotency-Keys (or Authorizations) could each be meant, and reading the
 * first would quietly drop the other (a retry with a second key would record
 * the purchase again).
 */
function checkHeaders(incoming: IncomingRequest): ProductError | undefined {
  const repeated = headerNames.find((name) => (incoming.headers.get(name)?.length ?? 0) > 1);
  if (repeated === undefined) return undefined;
  return new ProductError('REPEATED_HEADER', `the request has more than one ${headerSpelling[repeated]} header; send one`, { source: 'header' });
}

/**
 * Refuses a query parameter the route does not read: `?throug=3` would
 * otherwise answer as if nothing had been asked (the total now, not through seq 3).
 */
function checkParameters(incoming: IncomingRequest, route: Route): ProductError | undefined {
  const unknown = firstUnknown(new URLSearchParams(incoming.query).keys(), route.query);
  if (unknown === undefined) return undefined;
  const takes = route.query.length === 0 ? 'takes no query parameters' : `takes ${listed(route.query)} only`;
  return new ProductError('UNKNOWN_PARAMETER', `unknown query parameter ${JSON.stringify(unknown)}: ${route.method} ${route.pattern} ${takes}`, { source: 'query' });
}

/** "application/json; charset=utf-8" → "application/json": the type and subtype only, lower case. */
function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/**
 * JSON with every number kept as the digits that were written, so that
 * 1.0000000000000001 stays what it says instead of becoming 1: an amount is
 * never rounded on its way to the database.
 */
function parseJsonExactly(text: string): unknown {
  try {
    return parseLosslessJson(text);
  } catch {
    throw new ProductError('MALFORMED_JSON', 'the request body is not valid JSON (each key at most once)');
  }
}

export function errorReply(error: ProductError, headers: Record<string, string> = {}): Reply {
  const retryAfter = error.details.retryAfterSeconds;
  return {
    status: httpStatusOf(error),
    body: { error: { code: error.code, message: error.message } },
    headers: retryAfter === undefined ? headers : { ...headers, 'retry-after': String(retryAfter) },
  };
}

function toOutgoing(reply: Reply, closeConnection: boolean): OutgoingReply {
  return {
    status: reply.status,
    headers: { 'content-type': reply.contentType ?? 'application/json', ...reply.headers },
    body: typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body),
    closeConnection,
  };
}
