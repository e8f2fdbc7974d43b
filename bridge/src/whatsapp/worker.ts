// The WhatsApp worker: claims due outbox rows, sends them through Twilio at
// most TWILIO_MAX_MPS per second with at most WHATSAPP_CONCURRENCY in flight,
// and records each outcome. A NOTIFY on "whatsapp_outbox" wakes it; a poll
// every 2 s is the safety net, and fails the abandoned claims that may not be
// sent again. Only the messages in flight are in memory: the backlog stays in
// the table, whatever Twilio does.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { WhatsAppConfig } from '../config.js';
import type { Sql } from '../db.js';
import { describe } from '../failure.js';
import { settleWithin } from '../settle.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { maskPhone, messageBody } from './message.js';
import {
  claimDueMessages, failAbandonedMessages, markForRetry, markGivenUp, markSent, markSkipped, renewLease, type ClaimedMessage,
} from './outbox.js';
import { backoffMs, classifyFailure, outcomeUnknownCode, recipientRemovedCode, unknownErrorAttempts } from './retry-policy.js';
import type { WhatsAppSender } from './twilio-sender.js';

export interface WhatsAppWorker {
  /** For /health. */
  status(): { state: 'running' | 'stopped'; mode: 'twilio' | 'log'; inFlight: number };
  /** Stops claiming, waits for the messages in flight (at most timeoutMs). */
  stop(timeoutMs?: number): Promise<void>;
}

const pollEveryMs = 2000;

export async function startWhatsAppWorker(options: {
  sql: Sql;
  log: Logger;
  config: WhatsAppConfig;
  metrics: Metrics;
  /** Absent: log mode. */
  sender: WhatsAppSender | undefined;
}): Promise<WhatsAppWorker> {
  const { sql, config, metrics, sender } = options;
  const workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const log = options.log.child({ worker: workerId });
  let stopped = false;
  let inFlight = 0;
  let pumping = false;
  let pumpAgain = false;
  let nextSendAt = 0;
  const idle: Array<() => void> = [];

  log.info(sender
    ? `WhatsApp worker sending through Twilio, at most ${config.maxMessagesPerSecond} messages/s`
    : 'WhatsApp worker in LOG MODE: no Twilio credentials, so each message is logged (phone masked) and marked skipped');
  const templates = [
    ['TWILIO_REVERSAL_CONTENT_SID', 'reversal', config.twilio?.reversalContentSid],
    ['TWILIO_PAYOUT_CONTENT_SID', 'payout', config.twilio?.payoutContentSid],
  ] as const;
  for (const [variable, what] of templates.filter(([, , templateSid]) => sender && config.twilio?.contentSid && !templateSid)) {
    log.warn(`TWILIO_CONTENT_SID is set but ${variable} is not: ${what} messages are sent as free-form bodies, `
      + 'which WhatsApp delivers only within 24 hours of the recipient\'s last message (else 63016, undeliverable)');
  }

  /** Claims and starts as many messages as there is room for, until none is due. */
  async function pump(): Promise<void> {
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = true;
    try {
      do {
        pumpAgain = false;
        while (!stopped && inFlight < config.concurrency) {
          const { claimed, removed } = await claimDueMessages(sql, workerId, config.concurrency - inFlight, config.leaseMs, config.maxAttempts);
          for (const message of removed) recipientRemoved(message);
          if (claimed.length === 0 && removed.length === 0) break;
          for (const message of claimed) {
            inFlight += 1;
            void deliver(message).finally(() => {
              inFlight -= 1;
              if (inFlight === 0) for (const resolve of idle.splice(0)) resolve();
              void pump();
            });
          }
        }
      } while (pumpAgain && !stopped);
    } catch (error) {
      log.warn({ err: describe(error) }, 'cannot claim WhatsApp messages; trying again at the next poll');
    } finally {
      pumping = false;
    }
  }

  /** The database failed `message` as RECIPIENT_REMOVED instead of handing it over: its user has no number now. */
  function recipientRemoved(message: Pick<ClaimedMessage, 'id' | 'userId'>): void {
    metrics.whatsappFailures.inc({ code: recipientRemovedCode });
    log.info({ outboxId: message.id, userId: message.userId, code: recipientRemovedCode },
      'WhatsApp message not sent: its user removed their phone number');
  }

  /** Waits for this send's turn under TWILIO_MAX_MPS. */
  async function paced(): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, nextSendAt);
    nextSendAt = at + 1000 / config.maxMessagesPerSecond;
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
  }

  async function deliver(message: ClaimedMessage): Promise<void> {
    const context = {
      outboxId: message.id, earningId: message.earningId, payoutEventId: message.payoutEventId,
      userId: message.userId, to: maskPhone(message.recipient), attempt: message.attempts,
    };
    try {
      if (!sender) {
        log.info(context, `WhatsApp (log mode, not sent): ${messageBody(message.variables, config.currencyLabel)}`);
        await markSkipped(sql, message.id, workerId);
        return;
      }
      await paced();
      // Waiting for its turn may have outlasted the lease.
      const lease = await renewLease(sql, message.id, workerId, config.leaseMs);
      if (lease.state !== 'claimed') {
        if (lease.state === 'removed') recipientRemoved(message);
        else log.warn(context, 'WhatsApp message no longer claimed by this worker after waiting its turn; not sending it');
        return;
      }
      const started = Date.now();
      let sid: string | null;
      try {
        sid = await sender.send(lease.recipient, message.variables);
      } catch (error) {
        await recordFailure(message, error, context);
        return;
      }
      metrics.whatsappSendSeconds.observe((Date.now() - started) / 1000);
      await markSent(sql, message.id, workerId, sid);
      log.info({ ...context, twilioSid: sid }, 'WhatsApp message sent');
    } catch (error) {
      // The outcome could not be recorded: when the lease runs out the claim
      // counts as an unknown outcome, so the message is sent once more at most
      // (see README, "delivery guarantee").
      log.error({ ...context, err: describe(error) },
        'cannot record a WhatsApp outcome; after its lease the message is tried once more at most, or failed as OUTCOME_UNKNOWN');
    }
  }

  async function recordFailure(message: ClaimedMessage, error: unknown, context: Record<string, unknown>): Promise<void> {
    const failure = classifyFailure(error);
    metrics.whatsappFailures.inc({ code: failure.code });
    const allowed = failure.verdict === 'retry-a-few-times' ? Math.min(config.maxAttempts, unknownErrorAttempts) : config.maxAttempts;
    const unknownOutcome = failure.verdict === 'outcome-unknown';
    if (failure.verdict === 'undeliverable') {
      await markGivenUp(sql, message.id, workerId, 'undeliverable', failure.code, failure.message, false);
      log.warn({ ...context, code: failure.code }, `WhatsApp message undeliverable: ${failure.message}`);
    } else if (message.attempts >= allowed || (unknownOutcome && message.unknownOutcomes > 0)) {
      // After a second unknown outcome a third copy could be a second duplicate.
      await markGivenUp(sql, message.id, workerId, 'failed', failure.code, failure.message, unknownOutcome);
      log.error({ ...context, code: failure.code }, `WhatsApp message failed after ${message.attempts} attempts: ${failure.message}`);
    } else {
      const delay = backoffMs(message.attempts, config.retryBaseMs);
      await markForRetry(sql, message.id, workerId, delay, failure.code, failure.message, unknownOutcome);
      setTimeout(() => void pump(), delay + 10).unref();
      log.warn({ ...context, code: failure.code, retryInMs: delay }, `WhatsApp send failed, will retry: ${failure.message}`);
    }
  }

  /** Fails the abandoned claims that may not be sent again (their last attempt, or a second unknown outcome). */
  async function failAbandoned(): Promise<void> {
    try {
      for (const message of await failAbandonedMessages(sql, config.maxAttempts)) {
        metrics.whatsappFailures.inc({ code: outcomeUnknownCode });
        log.error({ outboxId: message.id, attempt: message.attempts, code: outcomeUnknownCode },
          'WhatsApp message failed: its claim ran out while it was being sent, so it may have been sent; it is not sent again');
      }
    } catch (error) {
      log.warn({ err: describe(error) }, 'cannot fail abandoned WhatsApp messages; trying again at the next poll');
    }
  }

  const { unlisten } = await sql.listen('whatsapp_outbox', () => void pump(), () => void failAbandoned().then(pump));
  const poll = setInterval(() => void failAbandoned().then(pump), pollEveryMs);
  poll.unref();

  return {
    status: () => ({ state: stopped ? 'stopped' : 'running', mode: sender ? 'twilio' : 'log', inFlight }),
    async stop(timeoutMs = 5000) {
      stopped = true;
      clearInterval(poll);
      await settleWithin(unlisten(), 1000);
      if (inFlight > 0) await settleWithin(new Promise<void>((resolve) => idle.push(resolve)), timeoutMs);
    },
  };
}
