// The transports the bench measures: both where a native uWebSockets.js
// build loads on this Node.js, else node alone; TRANSPORT set to one of them
// measures only that one.

import { chooseTransport } from '../bridge/src/transport/choose.js';
import type { TransportName } from '../bridge/src/transport/transport.js';

export interface MeasuredTransports {
  names: TransportName[];
  /** Each with the library it runs on, or why uws is left out. */
  description: string;
}

export function transportsToMeasure(env = process.env): MeasuredTransports {
  const wanted = env.TRANSPORT;
  if (wanted !== undefined && wanted !== 'uws' && wanted !== 'node') throw new Error(`TRANSPORT must be uws or node, not "${wanted}"`);
  const node = chooseTransport('node', env.UWS_PATH).transport;
  const uws = wanted === 'node' ? undefined : chooseTransport(undefined, env.UWS_PATH);
  if (uws?.uwsUnavailable !== undefined) {
    if (wanted === 'uws') throw new Error(`TRANSPORT=uws, but ${uws.uwsUnavailable}`);
    return { names: ['node'], description: `node (${node.description}); no uws: ${uws.uwsUnavailable}` };
  }
  const both = [uws?.transport, wanted === 'uws' ? undefined : node].filter((transport) => transport !== undefined);
  return { names: both.map((transport) => transport.name), description: both.map((transport) => `${transport.name} (${transport.description})`).join(', ') };
}
