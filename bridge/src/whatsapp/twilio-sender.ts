// Sends one WhatsApp message through the twilio package. TWILIO_API_BASE_URL
// (for a local test double or an egress proxy) is honoured through the
// client's own extension point, a custom RequestClient, which sends the same
// request to another origin.

import twilio from 'twilio';
import type { WhatsAppConfig } from '../config.js';
import { contentVariables, messageBody, type MessageVariables } from './message.js';

export interface WhatsAppSender {
  /** Resolves with Twilio's message SID; rejects with what the client threw. */
  send(recipient: string, variables: MessageVariables): Promise<string>;
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
  const httpClient = settings.apiBaseUrl
    ? new RedirectingRequestClient(settings.apiBaseUrl, { timeout: config.requestTimeoutMs, keepAlive: true })
    : new twilio.RequestClient({ timeout: config.requestTimeoutMs, keepAlive: true });
  // The worker owns retries (with the outbox as the record), so the client's
  // own 429 retries stay off.
  const client = twilio(settings.accountSid, settings.authToken, { httpClient, autoRetry: false, timeout: config.requestTimeoutMs });
  return {
    async send(recipient, variables) {
      const message = await client.messages.create(messageParameters(settings, config, recipient, variables));
      return message.sid;
    },
  };
}

class RedirectingRequestClient extends twilio.RequestClient {
  constructor(private readonly origin: string, options: ConstructorParameters<typeof twilio.RequestClient>[0]) {
    super(options);
  }

  override request<TData>(options: Parameters<typeof twilio.RequestClient.prototype.request<TData>>[0]) {
    const url = new URL(options.uri);
    return super.request<TData>({ ...options, uri: `${this.origin}${url.pathname}${url.search}` });
  }
}
