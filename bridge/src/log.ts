// Structured logs (pino) on standard output: one event per line, JSON for
// machines, pretty in a terminal (leaving out an earning line's event object,
// which its message already says). Secrets never reach a log line: callers
// log redacted URLs only, and the redact paths catch the usual places besides.

import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>): Logger {
  return pino({
    level: config.logLevel,
    redact: ['password', '*.password', 'authorization', '*.authorization'],
    ...(config.logFormat === 'pretty'
      ? { transport: { target: 'pino-pretty', options: { ignore: 'pid,hostname,event' } } }
      : {}),
  });
}
