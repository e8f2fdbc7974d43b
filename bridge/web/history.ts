// The user's history, newest first, in a scroller of fixed height. Rows have
// one fixed height and sit in fixed slots: a new event rewrites the slots'
// text instead of pushing rows down, so events streaming in shift nothing on
// the page, and a thousand of them cost no more than the slots in view.

import type { UserEvent } from '../src/client/referral-client.js';
import { centsText, el, timeText } from './dom.js';

const rowHeight = 56;
const overscan = 4;

export interface History {
  /** Adds events (any order, repeats ignored); newer ones go on top. */
  add(events: UserEvent[]): void;
  clear(): void;
  /** Draws every row again (after the currency label changed). */
  redraw(): void;
  /** The smallest seq shown; undefined when empty. */
  oldestSeq(): number | undefined;
  size(): number;
}

export function createHistory(scroller: HTMLElement, currency: () => string): History {
  const spacer = el('div', { className: 'history-spacer' });
  scroller.replaceChildren(spacer);
  let events: UserEvent[] = []; // newest first
  const seen = new Set<number>();
  const slots: HTMLElement[] = [];

  const render = () => {
    spacer.style.height = `${events.length * rowHeight}px`;
    const first = Math.max(0, Math.floor(scroller.scrollTop / rowHeight) - overscan);
    const count = Math.ceil(scroller.clientHeight / rowHeight) + overscan * 2;
    while (slots.length < count) {
      const slot = el('div', { className: 'event', role: 'listitem' });
      slot.style.height = `${rowHeight}px`;
      slots.push(slot);
      spacer.append(slot);
    }
    slots.forEach((slot, index) => {
      const event = events[first + index];
      slot.hidden = event === undefined;
      if (event === undefined) return;
      slot.style.transform = `translateY(${(first + index) * rowHeight}px)`;
      if (slot.dataset.seq !== String(event.seq)) fill(slot, event, currency());
    });
  };
  scroller.addEventListener('scroll', () => requestAnimationFrame(render), { passive: true });

  return {
    add(incoming) {
      const fresh = incoming.filter((event) => !seen.has(event.seq));
      if (fresh.length === 0) return;
      for (const event of fresh) seen.add(event.seq);
      const newestBefore = events[0]?.seq ?? 0;
      const above = fresh.filter((event) => event.seq > newestBefore).length;
      events = [...events, ...fresh].sort((a, b) => b.seq - a.seq);
      // Someone reading further down keeps the same rows in view.
      if (scroller.scrollTop > 0 && above > 0) scroller.scrollTop += above * rowHeight;
      render();
    },
    clear() {
      events = [];
      seen.clear();
      for (const slot of slots) delete slot.dataset.seq;
      render();
    },
    redraw() {
      for (const slot of slots) delete slot.dataset.seq;
      render();
    },
    oldestSeq: () => events.at(-1)?.seq,
    size: () => events.length,
  };
}

/** One event's row: what it is, its amount, what it came from, when. */
function fill(slot: HTMLElement, event: UserEvent, currency: string): void {
  slot.dataset.seq = String(event.seq);
  slot.dataset.type = event.type;
  let kind: string;
  let detail: string;
  let amount: string;
  switch (event.type) {
    case 'earning_update':
      kind = `Level ${event.level} commission`;
      detail = `from user ${event.fromUserId} · purchase ${event.purchaseId} of ${centsText(event.purchaseAmount)}`;
      amount = `+${centsText(event.amount, currency)}`;
      break;
    case 'earning_reversed':
      kind = `Reversed · refund ${event.refundId}`;
      detail = `level ${event.level} · ${centsText(event.refundAmount)} refunded of purchase ${event.purchaseId}`;
      amount = centsText(event.amount, currency);
      break;
    default:
      kind = `Payout ${event.payoutId} ${event.status}`;
      detail = event.type === 'payout_paid' ? `reference ${event.reference}` : event.type === 'payout_created' ? 'held from available' : (event.reason ?? 'available again');
      amount = centsText(event.amount, event.currency);
  }
  slot.replaceChildren(
    el('span', { className: 'event-kind', textContent: kind }),
    el('span', { className: 'event-amount', textContent: amount, title: `${event.amount} exactly` }),
    el('span', { className: 'event-detail', textContent: detail }),
    el('time', { className: 'event-when', dateTime: event.createdAt, textContent: `#${event.seq} · ${timeText(event.createdAt)}` }),
  );
}
