// HOST and PORT at start-up: a HOST that is no address at all is refused as
// configuration, one this machine does not have is named as the host (not as
// a port in use), and a port in use is still named as the port.

import net from 'node:net';
import { describe, expect, test } from 'vitest';
import { readConfig } from '../bridge/src/config.js';
import { startTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';

const db = useTestDatabase();

/** The code and message the bridge fails to start with, with this environment. */
async function startFailure(env: Record<string, string>): Promise<{ code: unknown; message: string }> {
  const error: unknown = await startTestBridge(db.url, env).then(async (bridge) => {
    await bridge.stop();
    throw new Error('the bridge started');
  }, (failure: unknown) => failure);
  return { code: (error as { code?: unknown }).code, message: (error as Error).message };
}

describe('HOST', () => {
  test.each(['999.1.1.1', '1.2.3', 'local host', 'http://localhost'])('%j is refused at start as CONFIG_INVALID, naming HOST', (host) => {
    expect(() => readConfig({ HOST: host })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^HOST is invalid: expected an IP address/) }));
  });

  test.each(['0.0.0.0', '127.0.0.1', '::', '::1', 'localhost', 'bridge-1.internal'])('%j is accepted', (host) => {
    expect(readConfig({ HOST: host }).http.host).toBe(host);
  });

  test('an address this machine does not have stops the start with HOST_UNAVAILABLE, not PORT_IN_USE', async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a local address.
    expect(await startFailure({ HOST: '192.0.2.1', PORT: '3999' })).toEqual({
      code: 'HOST_UNAVAILABLE',
      message: 'cannot listen on 192.0.2.1:3999: 192.0.2.1 is not an address of this machine; set HOST to one of its addresses (0.0.0.0 for all)',
    });
  });

  test('a port in use is still PORT_IN_USE', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      expect(await startFailure({ HOST: '127.0.0.1', PORT: String(port) })).toEqual({
        code: 'PORT_IN_USE', message: `cannot listen on 127.0.0.1:${port}: the port is in use; set PORT to a free port`,
      });
    } finally {
      blocker.close();
    }
  });
});
