// The live earnings page: choose a user, see their totals by level and a
// feed of earnings (and of their reversals by refunds, negative and marked)
// as they arrive over the raw WebSocket (resuming by itself after a drop),
// and, when the bridge runs open, simulate a purchase.

import { createReferralClient, ReferralApiError, type UserEvent, type Subscription } from '../src/client/referral-client.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const client = () => createReferralClient({ baseUrl: location.origin, ...(token() ? { token: token()! } : {}) });
const token = () => $<HTMLInputElement>('token').value.trim() || undefined;

let subscription: Subscription | undefined;
let watchedUser: number | undefined;

function setStatus(text: string, kind: 'live' | 'catching-up' | 'problem' | '' = ''): void {
  const status = $('status');
  status.textContent = text;
  status.className = `status ${kind}`;
  document.body.classList.toggle('live', kind === 'live');
}

async function refreshTotals(userId: number): Promise<void> {
  try {
    const summary = await client().summary(userId);
    if (userId !== watchedUser) return;
    $('total').textContent = summary.total;
    $('levels').replaceChildren(...summary.levels.map((level) => {
      const item = document.createElement('li');
      item.innerHTML = `Level ${level.level}<strong></strong><span class="muted"></span>`;
      item.querySelector('strong')!.textContent = level.total;
      item.querySelector('span')!.textContent = `${level.count} earning${level.count === 1 ? '' : 's'}` +
        (level.reversals > 0 ? `, ${level.reversals} reversal${level.reversals === 1 ? '' : 's'}` : '');
      return item;
    }));
  } catch (error) {
    setStatus(error instanceof ReferralApiError ? error.message : 'Cannot reach the bridge.', 'problem');
  }
}

function showEvent(event: UserEvent): void {
  const item = document.createElement('li');
  item.dataset.seq = String(event.seq);
  const reversal = event.type === 'earning_reversed';
  item.classList.toggle('reversal', reversal);
  const payout = event.type !== 'earning_update' && event.type !== 'earning_reversed';
  // A reversal's amount is negative already; a payout's moves money between states, so it has no sign.
  const amount = Object.assign(document.createElement('span'), { className: 'amount', textContent: reversal || payout ? event.amount : `+${event.amount}` });
  const what = Object.assign(document.createElement('span'), {
    textContent: payout
      ? `payout ${event.payoutId} · ${event.status}${event.type === 'payout_paid' ? ` · reference ${event.reference}` : ''}`
      : reversal
        ? `reversed · level ${event.level} · refund ${event.refundId} of ${event.refundAmount} on purchase ${event.purchaseId} of ${event.purchaseAmount}`
        : `level ${event.level} · from user ${event.fromUserId} · purchase ${event.purchaseId} of ${event.purchaseAmount}`,
  });
  const when = Object.assign(document.createElement('time'), {
    className: 'when', dateTime: event.createdAt, textContent: new Date(event.createdAt).toLocaleTimeString(),
  });
  item.append(amount, what, when);
  $('feed').prepend(item);
  $('feed-empty').hidden = true;
}

function watch(userId: number): void {
  subscription?.close();
  watchedUser = userId;
  $('feed').replaceChildren();
  $('feed-empty').hidden = false;
  history.replaceState(null, '', `?user=${userId}`);
  void refreshTotals(userId);
  subscription = client().subscribe(userId, {
    onEvent(event) {
      showEvent(event);
      void refreshTotals(userId);
    },
    onStatus(status) {
      if (status.state === 'live') setStatus(`Watching user ${userId} — live.`, 'live');
      if (status.state === 'connecting') setStatus(`Connecting to user ${userId}…`);
      if (status.state === 'catching_up') setStatus(`Catching up: earlier events of user ${userId} arrive at this connection's pace…`, 'catching-up');
      if (status.state === 'reconnecting') setStatus(`Connection lost; reconnecting in ${Math.ceil(status.inMs / 1000)} s…`, 'problem');
      if (status.state === 'stopped' && status.error) setStatus(status.error.message, 'problem');
    },
  });
}

$('watch-form').addEventListener('submit', (event) => {
  event.preventDefault();
  watch(Number($<HTMLInputElement>('user-id').value));
});

$('purchase-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = $('purchase-result');
  try {
    const receipt = await client().purchase({ userId: Number($<HTMLInputElement>('buyer-id').value), amount: $<HTMLInputElement>('amount').value });
    result.textContent = `Purchase ${receipt.purchase.id}: ${receipt.earnings.map((earning) => `user ${earning.userId} +${earning.amount}`).join(', ') || 'no referrer to credit'}`;
  } catch (error) {
    result.textContent = error instanceof ReferralApiError ? `${error.code}: ${error.message}` : 'Cannot reach the bridge.';
  }
});

async function start(): Promise<void> {
  const health = (await fetch('/health').then((response) => response.json()).catch(() => undefined)) as
    | { auth?: { reads: string; writes: string } } | undefined;
  $('token-label').hidden = health?.auth?.reads !== 'jwt';
  $('purchase-form').hidden = health?.auth?.writes !== 'open';
  const requested = Number(new URLSearchParams(location.search).get('user'));
  if (Number.isInteger(requested) && requested > 0) {
    $<HTMLInputElement>('user-id').value = String(requested);
    watch(requested);
  }
}

void start();
