// The referrer's dashboard (/?user=2): balance by state, history (the latest
// 50 events, then live ones, "load older" pages back by seq), earnings per
// day, downline, payouts and WhatsApp messages. Every number is the API's;
// the live stream only says when to read again.

import { createReferralClient, ReferralApiError, type ReferralClient, type Subscription, type UserEvent } from '../src/client/referral-client.js';
import { drawDailyChart } from './chart.js';
import { $, coalesced, showConnection, showProblem } from './dom.js';
import { createHistory } from './history.js';
import { showBalance, showDownline, showNotifications, showPayouts } from './panels.js';

const pageSize = 50;
// A read that failed for want of the bridge is tried again after this long.
const retryMs = 2000;
// The problem shown for a read that will be tried again; the next read that succeeds clears it.
let passingProblem: string | undefined;
let currency = '';
const timeline = createHistory($('history'), () => currency);
let session: { userId: number; client: ReferralClient; subscription?: Subscription; stopped: boolean } | undefined;

function open(userId: number, token: string | undefined): void {
  close();
  showProblem('');
  timeline.clear();
  $('dashboard').hidden = false;
  $('who').textContent = `User ${userId}`;
  window.history.replaceState(null, '', `?user=${userId}`);
  const client = createReferralClient({ baseUrl: location.origin, ...(token ? { token } : {}) });
  const current: NonNullable<typeof session> = { userId, client, stopped: false };
  session = current;

  const read = <T>(load: () => Promise<T>, show: (answer: T) => void) => {
    const run = coalesced(async () => {
      try {
        const answer = await load();
        if (current.stopped) return;
        show(answer);
        reachedAgain();
      } catch (error) {
        if (failed(current, error)) setTimeout(run, retryMs);
      }
    }, 700);
    return run;
  };
  const refresh = {
    money: read(async () => Promise.all([client.balance(userId), client.dailyEarnings(userId, 30)]), ([balance, daily]) => {
      if (currency !== balance.currency) {
        currency = balance.currency;
        timeline.redraw();
      }
      showBalance(balance);
      drawDailyChart(document.querySelector<SVGSVGElement>('#chart')!, $<HTMLTableSectionElement>('chart-table'), $('chart-caption'), daily);
    }),
    downline: read(() => client.referrals(userId), showDownline),
    payouts: read(() => client.payouts(userId, { limit: 20 }), showPayouts),
    notifications: read(() => client.notifications(userId, { limit: 20 }), showNotifications),
  };
  Object.values(refresh).forEach((run) => run());

  // Events wait for the next frame and are drawn together: 50 a second cost one layout a frame.
  let queued: UserEvent[] = [];
  const flush = () => {
    const events = queued;
    queued = [];
    timeline.add(events);
    showCount();
    refresh.money();
    if (events.some((event) => event.type.startsWith('earning'))) refresh.downline();
    if (events.some((event) => event.type.startsWith('payout'))) refresh.payouts();
    refresh.notifications();
  };
  let historyLoaded = false;
  current.subscription = client.subscribe(userId, {
    onEvent(event) {
      if (queued.push(event) === 1) requestAnimationFrame(flush);
    },
    onStatus(status) {
      if (current.stopped) return;
      if (status.state === 'connecting') showConnection('connecting', 'Connecting…');
      if (status.state === 'catching_up') showConnection('catching-up', 'Catching up…');
      if (status.state === 'reconnecting') showConnection('reconnecting', `Reconnecting in ${Math.ceil(status.inMs / 1000)} s`);
      if (status.state === 'stopped') failed(current, status.error);
      if (status.state !== 'live') return;
      showConnection('live', 'Live');
      if (historyLoaded) {
        // Back from a reconnect: what changed without an event (a message's delivery, say) is read again too.
        Object.values(refresh).forEach((run) => run());
      } else {
        historyLoaded = true;
        const after = Math.max(0, status.lastSeq - pageSize);
        const limit = Math.min(pageSize, status.lastSeq);
        const loadLatest = async () => {
          if (!(await loadPage(current, after, limit))) setTimeout(() => void loadLatest(), retryMs);
        };
        void loadLatest();
      }
    },
  });
}

/** Events after seq `after`, at most `limit` of them, into the history; false when worth trying again. */
async function loadPage(current: NonNullable<typeof session>, after: number, limit: number): Promise<boolean> {
  const older = $<HTMLButtonElement>('load-older');
  older.disabled = true;
  let loaded = true;
  try {
    if (limit > 0) timeline.add(await current.client.events(current.userId, { after, limit }));
    reachedAgain();
  } catch (error) {
    loaded = !failed(current, error);
  }
  if (current.stopped) return true;
  const oldest = timeline.oldestSeq() ?? 1;
  older.disabled = oldest <= 1;
  older.textContent = oldest <= 1 ? 'This is the beginning' : 'Load older';
  showCount();
  return loaded;
}

const showCount = () => {
  $('history-count').textContent = `${timeline.size()} shown`;
};

/** Shows why a read failed; true when it is worth trying again (the bridge was out of reach). */
function failed(current: NonNullable<typeof session>, error: unknown): boolean {
  if (current.stopped) return false;
  if (error instanceof ReferralApiError && [401, 403, 404, 4401, 4403].includes(error.status)) {
    // Refused: show why, and nothing of the user's.
    close();
    $('dashboard').hidden = true;
    timeline.clear();
    showConnection('stopped', 'Stopped');
    showProblem(error.status === 404
      ? `There is no user ${current.userId}.`
      : `The token was refused for user ${current.userId}: ${error.message}. Enter a token for this user.`);
    return false;
  }
  if (error === undefined) return false;
  const passing = !(error instanceof ReferralApiError) || (error.status >= 500 && error.status < 600);
  const problem = error instanceof ReferralApiError ? `${error.code}: ${error.message}` : 'Cannot reach the bridge; retrying.';
  showProblem(problem);
  passingProblem = passing ? problem : undefined;
  return passing;
}

/** A read succeeded: the bridge is in reach again, so its problem is gone. */
function reachedAgain(): void {
  if (passingProblem !== undefined && $('problem').textContent === passingProblem) showProblem('');
  passingProblem = undefined;
}

function close(): void {
  if (!session) return;
  session.stopped = true;
  session.subscription?.close();
  session = undefined;
}

$('load-older').addEventListener('click', () => {
  const oldest = timeline.oldestSeq();
  if (session && oldest !== undefined && oldest > 1) void loadPage(session, Math.max(0, oldest - 1 - pageSize), Math.min(pageSize, oldest - 1));
});

$('watch-form').addEventListener('submit', (event) => {
  event.preventDefault();
  open(Number($<HTMLInputElement>('user-id').value), $<HTMLInputElement>('token').value.trim() || undefined);
});

$('purchase-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = $('purchase-result');
  try {
    const receipt = await createReferralClient({ baseUrl: location.origin })
      .purchase({ userId: Number($<HTMLInputElement>('buyer-id').value), amount: $<HTMLInputElement>('amount').value });
    result.textContent = `Purchase ${receipt.purchase.id}: ${receipt.earnings.map((earning) => `user ${earning.userId} +${earning.amount}`).join(', ') || 'no referrer to credit'}`;
  } catch (error) {
    result.textContent = error instanceof ReferralApiError ? `${error.code}: ${error.message}` : 'Cannot reach the bridge.';
  }
});

async function start(): Promise<void> {
  const health = (await fetch('/health').then((response) => response.json()).catch(() => undefined)) as
    | { auth?: { reads: string; writes: string } } | undefined;
  const needsToken = health?.auth?.reads === 'jwt';
  $('token-label').hidden = !needsToken;
  $('purchase-form').hidden = health?.auth?.writes !== 'open';
  const requested = Number(new URLSearchParams(location.search).get('user'));
  if (!Number.isInteger(requested) || requested < 1) {
    showConnection('idle', 'Not watching');
    return;
  }
  $<HTMLInputElement>('user-id').value = String(requested);
  if (needsToken) {
    showConnection('idle', 'Waiting for a token');
    showProblem(`This bridge needs a token for user ${requested}: enter it and press Open.`);
    $('token').focus();
    return;
  }
  open(requested, undefined);
}

void start();
