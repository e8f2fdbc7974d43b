// What a WhatsApp message says, from an outbox row's variables: a free-form
// body, or the variables of a Content template (TWILIO_CONTENT_SID).

export interface MessageVariables {
  amount: string;
  level: number;
  fromUserId: number;
  purchaseId: number;
  purchaseAmount: string;
}

/** "You earned 50.00 (level 1) from a purchase by user 4." */
export function messageBody(variables: MessageVariables, currencyLabel: string): string {
  const amount = currencyLabel ? `${variables.amount} ${currencyLabel}` : variables.amount;
  return `You earned ${amount} (level ${variables.level}) from a purchase by user ${variables.fromUserId}.`;
}

/** Template variables, numbered as Content templates expect: {{1}} amount, {{2}} level, {{3}} buyer, {{4}} currency. */
export function contentVariables(variables: MessageVariables, currencyLabel: string): string {
  return JSON.stringify({
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
