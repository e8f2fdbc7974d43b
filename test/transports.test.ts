// Two transports, chosen once at start: uws (uWebSockets.js, native) where a
// native build loads, node (node:http + ws) everywhere else; TRANSPORT forces
// one. The npm package's JavaScript fallback is never used.

import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { startBridgeProcess, type BridgeProcess } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { cleanEnvironment, runCommand } from './support/process.js';
import { createBuyerWithReferrer } from './support/referrals.js';
import { transportUnderTest } from './support/transport.js';
import { subscribedClient } from './support/ws-client.js';

const db = useTestDatabase();
const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function temporaryFolder(): string {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'uws-build-'));
  folders.push(folder);
  return folder;
}

async function stopped(bridge: BridgeProcess): Promise<void> {
  bridge.command.interrupt('SIGTERM');
  expect(await bridge.command.exited).toBe(0);
}

describe('the transport in use', () => {
  test('is named in the start-up log, /health and /metrics', async () => {
    const bridge = await startBridgeProcess(db.url);
    try {
      expect(bridge.command.logLines().find((line) => line.msg.startsWith('bridge listening'))?.transport).toBe(transportUnderTest);
      expect((await callBridge(bridge.http, 'GET', '/health')).json.transport).toBe(transportUnderTest);
      expect((await callBridge(bridge.http, 'GET', '/metrics')).text).toContain(`bridge_transport_info{transport="${transportUnderTest}"} 1`);
    } finally {
      await stopped(bridge);
    }
  });

  test('TRANSPORT=node serves purchases, event pages with a query string and live WebSocket events', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const bridge = await startBridgeProcess(db.url, { TRANSPORT: 'node' });
    try {
      expect((await callBridge(bridge.http, 'GET', '/health')).json.transport).toBe('node');
      expect((await callBridge(bridge.http, 'POST', '/api/purchase', { userId: buyer, amount: '10.00' })).status).toBe(201);
      const page = await callBridge(bridge.http, 'GET', `/api/earnings/${referrer}/events?after=0`);
      expect(page.json.events.map((event: { amount: string }) => event.amount)).toEqual(['0.50']);
      const client = await subscribedClient(bridge.ws, referrer, { after: 0 });
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 20)`;
      await client.waitForEvents(2);
      expect(client.events().map((event) => [event.seq, event.amount])).toEqual([[1, '0.50'], [2, '1.00']]);
      await client.close();
    } finally {
      await stopped(bridge);
    }
  });
});

describe('choosing uWebSockets.js', () => {
  // TRANSPORT empty is TRANSPORT unset, whatever this run forces: the bridge chooses by itself.
  const automaticChoice = { TRANSPORT: '' };
  const packageFolder = path.dirname(createRequire(import.meta.url).resolve('uWebSockets.js/package.json'));
  const ownBinary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;

  test('TRANSPORT=uws where no native build loads stops with one line naming the Node.js version and what to do', async () => {
    const command = runCommand('node', ['dist/bridge/src/main.js'],
      cleanEnvironment({ DATABASE_URL: db.url, TRANSPORT: 'uws', UWS_PATH: temporaryFolder() }));
    expect(await command.exited).toBe(1);
    const message = command.stderr().trim();
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toContain('[TRANSPORT_UNAVAILABLE]');
    expect(message).toContain(`Node.js ${process.version}`);
    expect(message).toContain('unset TRANSPORT');
  });

  test('with no native build the bridge runs on node, never on the npm package\'s JavaScript fallback', async () => {
    const bridge = await startBridgeProcess(db.url, { ...automaticChoice, UWS_PATH: temporaryFolder() });
    try {
      expect((await callBridge(bridge.http, 'GET', '/health')).json.transport).toBe('node');
      const noBuild = bridge.command.logLines().find((line) => line.msg.startsWith('serving on node:http + ws'));
      expect(noBuild?.msg).toContain('has no build for this Node.js');
      expect(bridge.command.stdout() + bridge.command.stderr()).not.toMatch(/Falling back to a NodeJS implementation/);
    } finally {
      await stopped(bridge);
    }
  });

  test('an official build in UWS_PATH is used when it loads on this Node.js, and reported when it has none for it', async () => {
    // An official release keeps its binaries at the top of the package; make one from the npm build's.
    const folder = temporaryFolder();
    for (const binary of readdirSync(path.join(packageFolder, 'binaries'))) {
      if (binary.startsWith(`uws_${process.platform}_${process.arch}_`)) copyFileSync(path.join(packageFolder, 'binaries', binary), path.join(folder, binary));
    }
    writeFileSync(path.join(folder, 'package.json'), JSON.stringify({ name: 'uWebSockets.js', version: '20.99.0-official-layout' }));
    const loads = existsSync(path.join(folder, ownBinary));
    const bridge = await startBridgeProcess(db.url, { ...automaticChoice, UWS_PATH: folder });
    try {
      const listening = bridge.command.logLines().find((line) => line.msg.startsWith('bridge listening'));
      if (loads) {
        expect(listening?.transport).toBe('uws');
        expect(listening?.msg).toContain(`uWebSockets.js 20.99.0-official-layout (native, ${ownBinary})`);
      } else {
        expect(listening?.transport).toBe('node');
        expect(bridge.command.logLines().some((line) => line.msg.includes(`${folder} has no build for this Node.js`))).toBe(true);
      }
    } finally {
      await stopped(bridge);
    }
  });
});
