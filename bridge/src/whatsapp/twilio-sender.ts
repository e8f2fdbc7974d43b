// Sends one WhatsApp message through the twilio package. The client's own
// extension point, a custom RequestClient, honours TWILIO_API_BASE_URL (for a
// local test double or an egress proxy) and reads any 2xx as accepted.

import twilio from 'twilio';
import type { WhatsAppConfig } from '../config.js';
import { contentVariables, messageBody, type MessageVariables } from './message.js';

export interface WhatsAppSender {
  /**
   * Resolves when the message was accepted (any 2xx), with Twilio's message
   * SID, or null when the answer carried none; rejects with what the client threw.
   */
  send(recipient: string, variables: MessageVariables): Promise<string | null>;
}

type TwilioSettings = NonNullable<WhatsAppConfig['twilio']>;

/**
 * The parameters of Twilio's "create a Message" call (camelCase, as the twilio
 * package takes them). Each kind of message has its own template; a kind
 * without one is sent as a free-form body.
 */
function messageParameters(settings: TwilioSettings, config: Pick<WhatsAppConfig, 'currencyLabel' | 'statusCallbackUrl'>, recipient: string, variables: MessageVariables) {
  const contentSid = variables.kind === 'payout'
    ? settings.payoutContentSid
    : variables.kind === 'reversal' ? settings.reversalContentSid : settings.contentSid;
  return {
    from: settings.from,
    to: `whatsapp:${recipient}`,
    ...(contentSid
      ? { contentSid, contentVariables: contentVariables(variables, config.currencyLabel) }
      : { body: messageBody(variables, config.currencyLabel) }),
    ...(config.statusCallbackUrl ? { statusCallback: config.statusCallbackUrl } : {}),
  };
}

export function createTwilioSender(settings: TwilioSettings, config: WhatsAppConfig): WhatsAppSender {
  const httpClient = new AcceptingRequestClient(settings.apiBaseUrl, { timeout: config.requestTimeoutMs, keepAlive: true });
  // The worker owns retries (with the outbox as the record), so the client's
  // own 429 retries stay off.
  const client = twilio(settings.accountSid, settings.authToken, { httpClient, autoRetry: false, timeout: config.requestTimeoutMs });
  return {
    async send(recipient, variables) {
      const message = await client.messages.create(messageParameters(settings, config, recipient, variables));
      return typeof message.sid === 'string' && message.sid !== '' ? message.sid : null;
    },
  };
}

/**
 * Sends each request to `origin` when there is one. A 2xx answer means the
 * message was accepted, whatever its body says: the client would throw on a
 * body that is not a JSON object (a proxy's HTML page, `null`, nothing), and
 * the worker would send again a message already accepted. Such a body is
 * read as `{}`, a message without a SID.
 */
class AcceptingRequestClient extends twilio.RequestClient {
  constructor(private readonly origin: string | undefined, options: ConstructorParameters<typeof twilio.RequestClient>[0]) {
    super(options);
  }

  override async request<TData>(options: Parameters<typeof twilio.RequestClient.prototype.request<TData>>[0]) {
    const url = new URL(options.uri);
    const uri = this.origin ? `${this.origin}${url.pathname}${url.search}` : options.uri;
    const response = await super.request<TData>({ ...options, uri });
    if (response.statusCode < 200 || response.statusCode >= 300) return response;
    return { ...response, body: jsonObjectOrEmpty(response.body) as TData };
  }
}

function jsonObjectOrEmpty(body: unknown): object {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      value = undefined;
    }
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {};
}
