// Chooses the transport once, at start: uWebSockets.js when a native build of
// it loads on this Node.js and C library, otherwise node:http with ws.
// TRANSPORT forces one. The npm package's own JavaScript fallback (used by its
// entry point when no native build fits) is incomplete, so this never loads
// the package's entry point: only its native binaries, directly.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Failure, describe } from '../failure.js';
import { nodeTransport } from './node.js';
import type { Transport, TransportName } from './transport.js';
import { uwsTransport, type UwsModule } from './uws.js';

const require = createRequire(import.meta.url);

export interface ChosenTransport {
  transport: Transport;
  /** Why uWebSockets.js is not used, when it is not. */
  uwsUnavailable?: string;
}

/**
 * @param wanted TRANSPORT, if set.
 * @param uwsPath UWS_PATH, if set: a folder holding an official uWebSockets.js build.
 */
export function chooseTransport(wanted: TransportName | undefined, uwsPath: string | undefined): ChosenTransport {
  if (wanted === 'node') return { transport: nodeTransport(nodeDescription()) };
  const uws = loadNativeUws(uwsPath);
  if ('module' in uws) return { transport: uwsTransport(uws.module, uws.description) };
  if (wanted === 'uws') {
    throw new Failure(
      'TRANSPORT_UNAVAILABLE',
      `TRANSPORT=uws, but no native uWebSockets.js build loads on Node.js ${process.version} ` +
        `(${process.platform}-${process.arch}, module ABI ${process.versions.modules}): ${uws.reason}. ` +
        'Run Node.js 20 (the npm build), or install an official build for this Node.js and point UWS_PATH at it ' +
        '(README, "Transports"), or unset TRANSPORT to run on node:http + ws.',
    );
  }
  return { transport: nodeTransport(nodeDescription()), uwsUnavailable: uws.reason };
}

type Loaded = { module: UwsModule; description: string } | { reason: string };

/** The binary's name in both layouts: official builds keep it at the top, the npm build in binaries/. */
function binaryNames(): string[] {
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return [name, path.join('binaries', name)];
}

function loadNativeUws(uwsPath: string | undefined): Loaded {
  const folder = uwsPath ? path.resolve(uwsPath) : installedPackageFolder();
  if (!folder) return { reason: 'the uWebSockets.js package is not installed' };
  const binary = binaryNames().map((name) => path.join(folder, name)).find((file) => existsSync(file));
  if (!binary) {
    return { reason: `${folder} has no build for this Node.js (looked for ${binaryNames().join(' and ')})` };
  }
  try {
    const module = require(binary) as UwsModule;
    if (typeof module.App !== 'function') return { reason: `${binary} is not a uWebSockets.js build` };
    return { module, description: `uWebSockets.js ${packageVersion(folder)} (native, ${path.basename(binary)})` };
  } catch (error) {
    // Typically a C library too old for the build: "GLIBC_2.38 not found".
    return { reason: `${binary} does not load: ${describe(error).split('\n')[0]}` };
  }
}

function installedPackageFolder(): string | undefined {
  try {
    return path.dirname(require.resolve('uWebSockets.js/package.json'));
  } catch {
    return undefined;
  }
}

function packageVersion(folder: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(folder, 'package.json'), 'utf8')) as { version?: string }).version ?? '(unknown version)';
  } catch {
    return '(unknown version)';
  }
}

function nodeDescription(): string {
  const { version } = require('ws/package.json') as { version: string };
  return `node:http + ws ${version}`;
}
