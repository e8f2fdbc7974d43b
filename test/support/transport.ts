// The transport this test run's bridges use: TRANSPORT if set, else uws where
// a native uWebSockets.js build loads, else node (CI runs the suite on both).

import { chooseTransport } from '../../bridge/src/transport/choose.js';
import type { TransportName } from '../../bridge/src/transport/transport.js';

export const transportUnderTest: TransportName =
  chooseTransport(process.env.TRANSPORT as TransportName | undefined, process.env.UWS_PATH).transport.name;
