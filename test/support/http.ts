// Calls the bridge over HTTP as a client would: a JSON body when given, the
// answer's status, headers, text and (when it is an object) parsed JSON.

export async function callBridge(baseUrl: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  // Typed loosely on purpose: tests index into the JSON freely.
  const json = text.startsWith('{') ? (JSON.parse(text) as any) : undefined;
  return { status: response.status, headers: response.headers, text, json };
}
