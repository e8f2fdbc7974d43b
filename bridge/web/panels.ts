// The referrer's panels that are redrawn whole from one API answer: balance
// by state, downline, payouts and WhatsApp messages. Each panel's box has a
// fixed size (style.css), so redrawing moves nothing else.

import type { Balance, Notification, Payout, Referrals } from '../src/client/referral-client.js';
import { $, el, money, setMoney, timeText } from './dom.js';

export function showBalance(balance: Balance): void {
  for (const state of ['pending', 'available', 'inPayout', 'paid', 'total'] as const) {
    setMoney($(`balance-${state}`), balance[state], balance.currency);
  }
  $('balance-next').textContent = balance.nextAvailableAt
    ? `Next money becomes available ${timeText(balance.nextAvailableAt)}.`
    : 'Nothing is waiting for its holding period.';
}

export function showDownline(answer: Referrals): void {
  const byReferrer = new Map<number, Referrals['referrals']>();
  for (const person of answer.referrals) byReferrer.set(person.referredBy, [...(byReferrer.get(person.referredBy) ?? []), person]);
  const branch = (referrer: number): HTMLUListElement | undefined => {
    const people = byReferrer.get(referrer);
    if (!people) return undefined;
    return el('ul', { className: 'downline-level' }, ...people.map((person) => {
      const item = el('li', { className: `downline-person level-${person.level}` },
        el('span', { className: 'who', textContent: `${person.name ?? `User ${person.userId}`}` },
          el('small', { textContent: ` #${person.userId} · level ${person.level}` })),
        money(person.generated, answer.currency, 'generated'));
      item.dataset.userId = String(person.userId);
      const below = branch(person.userId);
      if (below) item.append(below);
      return item;
    }));
  };
  const levelOne = answer.referrals.filter((person) => person.level === 1).length;
  const levelTwo = answer.referrals.filter((person) => person.level === 2).length;
  $('downline-summary').textContent = `${levelOne} referred directly, ${levelTwo} at level 2`;
  $('downline').replaceChildren(branch(answer.userId) ?? el('p', { className: 'muted', textContent: 'Nobody yet: share your referral link.' }));
}

export function showPayouts(payouts: Payout[]): void {
  $('payouts').replaceChildren(...(payouts.length === 0
    ? [el('li', { className: 'muted', textContent: 'No payouts yet.' })]
    : payouts.map((payout) => {
      const item = el('li', { className: `payout status-${payout.status}` },
        el('span', { className: 'badge', textContent: payout.status }),
        money(payout.amount, payout.currency),
        el('span', { className: 'muted', textContent: `#${payout.id}${payout.reference ? ` · ref ${payout.reference}` : ''}${payout.reason ? ` · ${payout.reason}` : ''} · ${timeText(payout.paidAt ?? payout.createdAt)}` }));
      item.dataset.payoutId = String(payout.id);
      return item;
    })));
}

export function showNotifications(notifications: Notification[]): void {
  $('notifications').replaceChildren(...(notifications.length === 0
    ? [el('li', { className: 'muted', textContent: 'No WhatsApp messages (no phone number on file, or nothing to tell yet).' })]
    : notifications.map((message) => el('li', { className: `notification status-${message.status}` },
      el('span', { className: 'badge', textContent: message.status }),
      el('span', { textContent: message.payoutId ? `payout ${message.payoutId} paid` : `earning ${message.earningId}` }),
      el('span', { className: 'muted', textContent: `${message.attempts} attempt${message.attempts === 1 ? '' : 's'}${message.lastErrorCode ? ` · error ${message.lastErrorCode}` : ''} · ${timeText(message.updatedAt)}` })))));
}
