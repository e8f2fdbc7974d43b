// uWebSockets.js, and whether it runs natively. The package falls back to a
// slower JavaScript implementation when its native build does not fit this
// Node.js; the bridge reports which one it got at start-up and in /health.

import uWS from 'uWebSockets.js';

export { uWS };

export type Transport = 'native' | 'fallback';

export const transport: Transport = String(uWS.App).includes('[native code]') ? 'native' : 'fallback';
