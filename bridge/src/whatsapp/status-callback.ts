// POST /twilio/status: Twilio's delivery reports. A report counts only with a
// valid X-Twilio-Signature (checked with the twilio package's validator
// against PUBLIC_BASE_URL + /twilio/status); anything else is 403 and changes
// nothing.

import twilio from 'twilio';
import type { WhatsAppConfig } from '../config.js';
import type { Sql } from '../db.js';
import { ProductError } from '../errors.js';
import type { Handler } from '../http/exchange.js';
import type { Logger } from '../log.js';
import { recordDeliveryStatus } from './outbox.js';

const recordedStatuses: Record<string, 'delivered' | 'read' | 'failed' | 'undeliverable'> = {
  delivered: 'delivered',
  read: 'read',
  failed: 'failed',
  undelivered: 'undeliverable',
};

export function statusCallbackHandler(sql: Sql, config: WhatsAppConfig, log: Logger): Handler {
  return async (request) => {
    const report = await request.form();
    const authToken = config.twilio?.authToken;
    const signature = request.header('x-twilio-signature');
    if (!authToken || !config.statusCallbackUrl || !signature
      || !twilio.validateRequest(authToken, signature, config.statusCallbackUrl, report)) {
      throw new ProductError('INVALID_SIGNATURE', 'X-Twilio-Signature is missing or does not match this request');
    }
    const status = recordedStatuses[report.MessageStatus ?? ''];
    const sid = report.MessageSid ?? '';
    if (!status) return { status: 200, body: { recorded: false, reason: `status ${report.MessageStatus ?? '(none)'} is not recorded` } };
    const recorded = await recordDeliveryStatus(sql, sid, status, report.ErrorCode || null);
    if (!recorded) log.warn({ twilioSid: sid, status }, 'delivery report for an unknown message SID');
    else log.info({ twilioSid: sid, status, errorCode: report.ErrorCode || undefined }, `WhatsApp message ${status}`);
    return { status: 200, body: { recorded } };
  };
}
