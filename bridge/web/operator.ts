// The operator's console (/operator): the program's totals and the last
// hour's share, this month's top referrers, pending payouts (create, mark
// paid), the WhatsApp outbox's depth, and the settings. The API key is typed
// in and kept in this page's memory only. Figures are read again every few
// seconds and after every action; every number is the API's.

import { createReferralClient, ReferralApiError, type Payout, type ProgramTotals, type ReferralClient } from '../src/client/referral-client.js';
import { $, centsText, el, money, setMoney, showConnection, showProblem, timeText } from './dom.js';

const everyMs = 5000;
let client: ReferralClient | undefined;
let timer: ReturnType<typeof setInterval> | undefined;
const settingFields = ['holdingPeriod', 'minimumPayout', 'minimumPurchaseAmount', 'currency'] as const;
const figures: Array<[keyof Omit<ProgramTotals, 'currency' | 'asOf'>, string]> = [
  ['purchases', 'Purchases'], ['earnings', 'Commissions'], ['reversals', 'Reversals'], ['paid', 'Paid out'], ['owed', 'Owed'],
];

function connect(apiKey: string | undefined): void {
  if (timer) clearInterval(timer);
  client = createReferralClient({ baseUrl: location.origin, ...(apiKey ? { apiKey } : {}) });
  showProblem('');
  showConnection('connecting', 'Loading…');
  void refresh().then((ok) => {
    if (!ok) return;
    void loadSettings();
    timer = setInterval(() => void refresh(), everyMs);
  });
}

async function refresh(): Promise<boolean> {
  const current = client;
  if (!current) return false;
  try {
    const [totals, top, pending, outbox] = await Promise.all([
      current.programTotals(), current.topReferrers(10), current.listPayouts({ status: 'pending', limit: 1000 }), current.outboxDepth(),
    ]);
    if (current !== client) return false;
    $('console').hidden = false;
    showTotals(totals);
    $('top-referrers').replaceChildren(...(top.referrers.length === 0
      ? [el('tr', {}, el('td', { colSpan: 3, className: 'muted', textContent: 'Nobody has earned anything this month yet.' }))]
      : top.referrers.map((referrer, index) => el('tr', {},
        el('td', { textContent: String(index + 1) }),
        el('td', { textContent: `${referrer.name ?? 'User'} #${referrer.userId}` }),
        el('td', {}, money(referrer.earned, top.currency))))));
    showPending(pending);
    $('outbox').replaceChildren(...(outbox.depth.length === 0
      ? [el('li', { className: 'muted', textContent: 'Empty: no messages queued or sent.' })]
      : outbox.depth.map((row) => el('li', {}, el('span', { className: `badge status-${row.status}`, textContent: row.status }), el('strong', { textContent: String(row.count) })))));
    showConnection('live', `Live · updated ${new Date().toLocaleTimeString()}`);
    showProblem('');
    return true;
  } catch (error) {
    if (error instanceof ReferralApiError && error.status === 401) {
      if (timer) clearInterval(timer);
      client = undefined;
      $('console').hidden = true;
      showConnection('stopped', 'Not connected');
      showProblem(`The API key was refused: ${error.message}.`);
      return false;
    }
    showConnection('reconnecting', `Cannot reach the bridge; retrying in ${everyMs / 1000} s`);
    return true;
  }
}

function showTotals(totals: ProgramTotals): void {
  const list = $('totals');
  if (list.childElementCount === 0) {
    list.append(...figures.map(([key, label]) => el('div', { className: `figure figure-${key}` },
      el('dt', { textContent: label }), el('dd', { id: `total-${key}`, className: 'money big' }), el('dd', { id: `hour-${key}`, className: 'muted small' }))));
  }
  for (const [key] of figures) {
    const figure = totals[key];
    setMoney($(`total-${key}`), figure.total, totals.currency);
    const count = 'count' in figure ? ` (${figure.lastHourCount})` : '';
    const hour = $(`hour-${key}`);
    hour.textContent = `${figure.lastHour.startsWith('-') ? '' : '+'}${centsText(figure.lastHour, totals.currency)} in the last hour${count}`;
    hour.title = `${figure.lastHour} ${totals.currency} exactly`;
  }
  $('totals-as-of').textContent = `as of ${timeText(totals.asOf)}`;
}

// A pending payout's row is kept while it stays pending: the refresh every few
// seconds must not take away a reference being typed, its focus or its error.
const pendingRows = new Map<number, HTMLTableRowElement>();

function showPending(payouts: Payout[]): void {
  $('pending-count').textContent = `${payouts.length} waiting`;
  const pending = new Set(payouts.map((payout) => payout.id));
  for (const id of pendingRows.keys()) if (!pending.has(id)) pendingRows.delete(id);
  const rows = payouts.length === 0
    ? [el('tr', {}, el('td', { colSpan: 4, className: 'muted', textContent: 'None: create payouts to pay what is available.' }))]
    : payouts.map((payout) => {
      const kept = pendingRows.get(payout.id);
      if (kept) return kept;
      const row = pendingRow(payout);
      pendingRows.set(payout.id, row);
      return row;
    });
  // Rows already in place are left where they are: moving one, even back to
  // the same place, would take the focus from its input.
  const body = $('pending-payouts');
  rows.forEach((row, index) => {
    const there = body.children[index] ?? null;
    if (there !== row) body.insertBefore(row, there);
  });
  while (body.children.length > rows.length) body.lastElementChild!.remove();
}

function pendingRow(payout: Payout): HTMLTableRowElement {
  const reference = el('input', { name: 'reference', placeholder: 'bank transfer id', ariaLabel: `Reference for payout ${payout.id}` });
  const error = el('span', { className: 'field-error', role: 'alert' });
  const form = el('form', { className: 'mark-paid' }, reference, el('button', { type: 'submit', textContent: 'Mark paid' }), error);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void markPaid(payout.id, reference.value, error);
  });
  const row = el('tr', {}, el('td', { textContent: `#${payout.id}` }), el('td', { textContent: `user ${payout.userId}` }),
    el('td', {}, money(payout.amount, payout.currency)), el('td', {}, form));
  row.dataset.payoutId = String(payout.id);
  return row;
}

async function markPaid(payoutId: number, reference: string, error: HTMLElement): Promise<void> {
  try {
    await client?.markPayoutPaid(payoutId, reference);
    await refresh();
  } catch (failure) {
    error.textContent = failure instanceof ReferralApiError ? failure.message : 'Cannot reach the bridge.';
  }
}

async function loadSettings(): Promise<void> {
  const settings = await client?.settings();
  if (!settings) return;
  for (const field of settingFields) $<HTMLInputElement>(`setting-${field}`).value = settings[field];
}

$('create-payouts').addEventListener('click', async () => {
  try {
    const created = (await client?.createPayouts()) ?? [];
    $('create-result').textContent = created.length === 0 ? 'Nobody has reached the minimum payout.' : `Created ${created.length} payout${created.length === 1 ? '' : 's'}.`;
    await refresh();
  } catch (error) {
    $('create-result').textContent = error instanceof ReferralApiError ? error.message : 'Cannot reach the bridge.';
  }
});

$('settings-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  for (const field of settingFields) $(`error-${field}`).textContent = '';
  const change = Object.fromEntries(settingFields.map((field) => [field, $<HTMLInputElement>(`setting-${field}`).value.trim()]));
  try {
    await client?.changeSettings(change);
    $('settings-result').textContent = 'Saved.';
    await loadSettings();
  } catch (error) {
    // INVALID_SETTINGS names its field first: show it under that field.
    const message = error instanceof ReferralApiError ? error.message : 'Cannot reach the bridge.';
    const field = settingFields.find((name) => message.startsWith(name));
    $('settings-result').textContent = field ? '' : message;
    if (field) $(`error-${field}`).textContent = message;
  }
});

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  connect($<HTMLInputElement>('api-key').value.trim() || undefined);
});

async function start(): Promise<void> {
  const health = (await fetch('/health').then((response) => response.json()).catch(() => undefined)) as { auth?: { writes: string } } | undefined;
  if (health?.auth?.writes === 'open') {
    $('key-form').hidden = true;
    connect(undefined);
  } else {
    showProblem('This bridge needs its API key: enter it and press Connect.');
  }
}

void start();
