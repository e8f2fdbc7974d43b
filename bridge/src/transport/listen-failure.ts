// Why a transport could not listen, in one start-up line that names the
// variable to fix: HOST for an address this machine does not have, PORT for a
// port in use or not allowed. uWebSockets.js reports only that listening
// failed, so the system's reason is learnt by asking node:net the same.

import net from 'node:net';
import { Failure } from '../failure.js';

interface Address {
  host: string;
  port: number;
}

/** The failure for the system's error code when listening on `host:port`. */
export function listenFailure({ host, port }: Address, code: string | undefined): Failure {
  const where = `cannot listen on ${host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new Failure('PORT_IN_USE', `${where}: the port is in use; set PORT to a free port`);
    case 'EACCES':
      return new Failure('PORT_NOT_ALLOWED', `${where}: this user may not listen on port ${port} (ports below 1024 need privileges); set PORT to a free port from 1024`);
    case 'EADDRNOTAVAIL':
    case 'EINVAL':
      return new Failure('HOST_UNAVAILABLE', `${where}: ${host} is not an address of this machine; set HOST to one of its addresses (0.0.0.0 for all)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return new Failure('HOST_UNAVAILABLE', `${where}: the host name ${host} does not resolve; set HOST to an address of this machine (0.0.0.0 for all)`);
    default:
      return new Failure('LISTEN_FAILED', `${where}${code ? ` (${code})` : ''}: the port may be in use or not allowed, or the host not this machine's; check HOST and PORT`);
  }
}

/** Listens with node:net on `host:port` and stops at once: the system's error code, or undefined if it could listen. */
export function listenErrorCode({ host, port }: Address): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code));
    probe.listen(port, host, () => probe.close(() => resolve(undefined)));
  });
}
