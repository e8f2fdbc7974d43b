// Small helpers the two pages share: elements, amounts shown to the cent
// with their exact value on hover, refreshes that coalesce, and the
// connection state that is always in view.

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** An element with text and attributes; children are appended. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K, props: Partial<Record<'className' | 'textContent' | 'title', string>> & Record<string, unknown> = {}, ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const element = Object.assign(document.createElement(tag), props);
  element.append(...children);
  return element;
}

// Intl formats a decimal string exactly (no float on the way): the page only
// rounds for reading, to the cent; the exact amount is in the title.
const toCents = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** An amount from the API as text to the cent, with the currency label when the program has one. */
export function centsText(amount: string, currency = ''): string {
  return `${toCents.format(amount as `${number}`)}${currency ? ` ${currency}` : ''}`;
}

/** A <span class="money"> showing `amount` to the cent; hover (or focus) shows the exact value. */
export function money(amount: string, currency = '', className = ''): HTMLSpanElement {
  const span = el('span', { className: `money ${className}`.trim(), textContent: centsText(amount, currency), title: `${amount}${currency ? ` ${currency}` : ''} exactly` });
  span.dataset.exact = amount;
  return span;
}

/** Puts `amount` into an existing element, keeping its box (no layout shift). */
export function setMoney(target: HTMLElement, amount: string, currency = ''): void {
  target.textContent = centsText(amount, currency);
  target.title = `${amount}${currency ? ` ${currency}` : ''} exactly`;
  target.dataset.exact = amount;
}

export const isNegative = (amount: string) => amount.startsWith('-');

export function timeText(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/**
 * Runs `task` now, or, while it runs or within `gapMs` of its last run, once
 * more afterwards: bursts of events cost one request per gap, and the last
 * event is always followed by a fresh read.
 */
export function coalesced(task: () => Promise<void>, gapMs: number): () => void {
  let state: 'idle' | 'running' | 'waiting' = 'idle';
  let again = false;
  const run = async () => {
    state = 'running';
    again = false;
    try {
      await task();
    } finally {
      state = 'waiting';
      setTimeout(() => {
        state = 'idle';
        if (again) void run();
      }, gapMs);
    }
  };
  return () => {
    if (state === 'idle') void run();
    else again = true;
  };
}

export type ConnectionState = 'connecting' | 'live' | 'catching-up' | 'reconnecting' | 'stopped' | 'idle';

/** The connection pill in the header: its state as a class and words, read out politely. */
export function showConnection(state: ConnectionState, words: string): void {
  const pill = $('connection');
  pill.dataset.state = state;
  $('connection-text').textContent = words;
}

/** The page's one problem message (role=alert); empty hides it. */
export function showProblem(message: string): void {
  const problem = $('problem');
  problem.textContent = message;
  problem.hidden = message === '';
}
