// What a WhatsApp message says, from an outbox row's variables: a free-form
// body, or the variables of a Content template (TWILIO_CONTENT_SID for
// earnings, TWILIO_REVERSAL_CONTENT_SID for reversals, TWILIO_PAYOUT_CONTENT_SID
// for paid payouts).

/** An earning's message (rows queued before reversals existed have no kind either). */
export interface EarningVariables {
  kind?: undefined;
  amount: string;
  level: number;
  fromUserId: number;
  purchaseId: number;
  purchaseAmount: string;
}

/** A reversal's message: `amount` is what the refund took back, positive, as the message says it. */
export interface ReversalVariables {
  kind: 'reversal';
  amount: string;
  level: number;
  fromUserId: number;
  purchaseId: number;
  purchaseAmount: string;
  refundId: number;
  refundAmount: string;
}

/** A paid payout's message: `currency` is the program's when the payout was created ("" for none). */
export interface PayoutVariables {
  kind: 'payout';
  payoutId: number;
  amount: string;
  currency: string;
  reference: string;
}

export type MessageVariables = EarningVariables | ReversalVariables | PayoutVariables;

/**
 * "You earned 50.00 (level 1) from a purchase by user 4.", "A refund of
 * purchase 7 took back 12.50 (level 1)." or "Your payout 3 of 99.99 INR was
 * paid (reference TX-2026-0042)." A payout names its own currency; the
 * others, WHATSAPP_CURRENCY's label.
 */
export function messageBody(variables: MessageVariables, currencyLabel: string): string {
  const label = currencyOf(variables, currencyLabel);
  const amount = label ? `${variables.amount} ${label}` : variables.amount;
  return variables.kind === 'payout'
    ? `Your payout ${variables.payoutId} of ${amount} was paid (reference ${variables.reference}).`
    : variables.kind === 'reversal'
      ? `A refund of purchase ${variables.purchaseId} took back ${amount} (level ${variables.level}).`
      : `You earned ${amount} (level ${variables.level}) from a purchase by user ${variables.fromUserId}.`;
}

function currencyOf(variables: MessageVariables, currencyLabel: string): string {
  return variables.kind === 'payout' && variables.currency ? variables.currency : currencyLabel;
}

/**
 * Template variables, numbered as Content templates expect. An earning:
 * {{1}} amount, {{2}} level, {{3}} buyer, {{4}} currency. A reversal:
 * {{1}} amount taken back, {{2}} level, {{3}} purchase id, {{4}} currency,
 * {{5}} refund amount. A paid payout: {{1}} amount, {{2}} reference,
 * {{3}} payout id, {{4}} currency.
 */
export function contentVariables(variables: MessageVariables, currencyLabel: string): string {
  if (variables.kind === 'payout') {
    return JSON.stringify({ 1: variables.amount, 2: variables.reference, 3: String(variables.payoutId), 4: currencyOf(variables, currencyLabel) });
  }
  return JSON.stringify(variables.kind === 'reversal'
    ? {
        1: variables.amount,
        2: String(variables.level),
        3: String(variables.purchaseId),
        4: currencyLabel,
        5: variables.refundAmount,
      }
    : {
        1: variables.amount,
        2: String(variables.level),
        3: String(variables.fromUserId),
        4: currencyLabel,
      });
}

/** A phone number fit for a log line: +49151*****678. */
export function maskPhone(phone: string): string {
  if (phone.length <= 7) return '*'.repeat(phone.length);
  return `${phone.slice(0, 6)}${'*'.repeat(phone.length - 9)}${phone.slice(-3)}`;
}
