// What a WhatsApp message says, from an outbox row's variables: a free-form
// body, or the variables of a Content template (TWILIO_CONTENT_SID for
// earnings, TWILIO_REVERSAL_CONTENT_SID for reversals).

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

export type MessageVariables = EarningVariables | ReversalVariables;

/** "You earned 50.00 (level 1) from a purchase by user 4." or "A refund of purchase 7 took back 12.50 (level 1)." */
export function messageBody(variables: MessageVariables, currencyLabel: string): string {
  const amount = currencyLabel ? `${variables.amount} ${currencyLabel}` : variables.amount;
  return variables.kind === 'reversal'
    ? `A refund of purchase ${variables.purchaseId} took back ${amount} (level ${variables.level}).`
    : `You earned ${amount} (level ${variables.level}) from a purchase by user ${variables.fromUserId}.`;
}

/**
 * Template variables, numbered as Content templates expect. An earning:
 * {{1}} amount, {{2}} level, {{3}} buyer, {{4}} currency. A reversal:
 * {{1}} amount taken back, {{2}} level, {{3}} purchase id, {{4}} currency,
 * {{5}} refund amount.
 */
export function contentVariables(variables: MessageVariables, currencyLabel: string): string {
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
