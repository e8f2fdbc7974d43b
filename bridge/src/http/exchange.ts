// One HTTP request and its answer, following the uWebSockets.js rules:
// onAborted first; everything needed from req copied before the first await
// (req is invalid after it); the body read with a size limit; the answer
// written inside res.cork, and only if the client is still there.

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Logger } from '../log.js';
import { apiErrorFromDatabase } from '../database-errors.js';
import { ApiError } from './api-error.js';
import { pathOf, queryOf } from '../transport.js';

export const maxBodyBytes = 16 * 1024;

export interface Request {
  method: string;
  path: string;
  query: URLSearchParams;
  params: string[];
  header(name: 'content-type' | 'authorization' | 'idempotency-key' | 'x-twilio-signature'): string;
  /** The body parsed as JSON (POST routes only); rejects with an ApiError. */
  json(): Promise<unknown>;
  /** The body parsed as an HTML form (POST routes only); rejects with an ApiError. */
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

export interface ExchangeObserver {
  log: Logger;
  onAnswered(route: string, method: string, status: number): void;
}

const statusText: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden',
  404: '404 Not Found', 405: '405 Method Not Allowed', 409: '409 Conflict', 413: '413 Payload Too Large',
  415: '415 Unsupported Media Type', 422: '422 Unprocessable Entity', 500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

/**
 * Adapts a handler to uWebSockets.js. `route` is the route's pattern: it names
 * the route in logs and metrics, and its :parameters are read into params.
 */
export function exchange(route: string, handler: Handler, observer: ExchangeObserver) {
  return (res: HttpResponse, req: HttpRequest): void => {
    let answered = false;
    res.onAborted(() => {
      answered = true;
    });

    const method = req.getMethod().toUpperCase();
    const headers = {
      'content-type': req.getHeader('content-type'),
      authorization: req.getHeader('authorization'),
      'idempotency-key': req.getHeader('idempotency-key'),
      'x-twilio-signature': req.getHeader('x-twilio-signature'),
    };
    const params = route.split('/').filter((part) => part.startsWith(':')).map((_, index) => req.getParameter(index));
    const body = method === 'POST' ? readBody(res, Number(req.getHeader('content-length') || 0)) : undefined;
    // A handler may answer (say, 401) without reading the body.
    body?.catch(() => undefined);

    const answer = (reply: Reply, closeConnection = false) => {
      if (answered) return;
      answered = true;
      res.cork(() => {
        res.writeStatus(statusText[reply.status] ?? String(reply.status));
        res.writeHeader('content-type', reply.contentType ?? 'application/json');
        for (const [name, value] of Object.entries(reply.headers ?? {})) res.writeHeader(name, value);
        res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body), closeConnection);
      });
      observer.onAnswered(route, method, reply.status);
    };

    const bodyOfType = async (mediaType: string, description: string): Promise<string> => {
      if (!headers['content-type'].toLowerCase().startsWith(mediaType)) {
        await body?.catch(() => undefined);
        throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `send the body as ${description} with content-type: ${mediaType}`);
      }
      return (await body!).toString('utf8');
    };

    const request: Request = {
      method,
      path: pathOf(req),
      query: new URLSearchParams(queryOf(req)),
      params,
      header: (name) => headers[name],
      json: async () => {
        const text = await bodyOfType('application/json', 'JSON');
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new ApiError(400, 'MALFORMED_JSON', 'the request body is not valid JSON');
        }
      },
      form: async () => Object.fromEntries(new URLSearchParams(await bodyOfType('application/x-www-form-urlencoded', 'a form'))),
    };

    Promise.resolve()
      .then(() => handler(request))
      .then(
        (reply) => answer(reply),
        (error: unknown) => {
          const apiError = error instanceof ApiError ? error : apiErrorFromDatabase(error);
          if (!apiError) observer.log.error({ err: error, route }, 'request failed');
          const failure = apiError ?? new ApiError(500, 'INTERNAL_ERROR', 'something went wrong on our side; it has been logged');
          answer(errorReply(failure), failure.status === 413);
        },
      );
  };
}

export function errorReply(error: ApiError, headers?: Record<string, string>): Reply {
  return { status: error.status, body: { error: { code: error.code, message: error.message } }, ...(headers ? { headers } : {}) };
}

/** Reads the whole body, refusing (413) past maxBodyBytes, declared or sent. */
function readBody(res: HttpResponse, declaredLength: number): Promise<Buffer> {
  const tooLarge = () => new ApiError(413, 'BODY_TOO_LARGE', `the request body must be at most ${maxBodyBytes} bytes`);
  if (declaredLength > maxBodyBytes) {
    // Still registered: uWebSockets.js needs a data handler to drain the request.
    res.onData(() => undefined);
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    res.onData((chunk, isLast) => {
      if (refused) return;
      size += chunk.byteLength;
      if (size > maxBodyBytes) {
        refused = true;
        reject(tooLarge());
        return;
      }
      // The chunk's memory is reused after this callback: copy it.
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) resolve(Buffer.concat(chunks));
    });
  });
}
