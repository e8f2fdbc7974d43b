// The user a route names in its path (:userId, its first parameter), once
// the caller may read that user's data: anyone when auth is off, else a
// token for that user (auth.ts). Every per-user read starts here.

import { bearerToken, type Auth } from '../auth.js';
import { parseUserId } from '../input.js';
import type { Request } from './exchange.js';

export async function readableUser(auth: Auth, request: Request): Promise<number> {
  const userId = parseUserId(request.params[0], { source: 'path' });
  await auth.authorizeRead(userId, bearerToken(request.header('authorization')));
  return userId;
}
