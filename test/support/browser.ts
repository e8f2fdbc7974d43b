/// <reference lib="dom" />
// Headless Chromium for the page tests (Debian's /usr/bin/chromium, or
// CHROMIUM_PATH), the folder its screenshots go to, and what the browser's
// performance API saw while a page ran: long tasks and layout shifts.

import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { projectRoot } from '../../bridge/src/project-paths.js';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumPresent = existsSync(chromiumPath);
export const screenshots = path.join(projectRoot, 'test-results');

export async function launchChromium(): Promise<Browser> {
  mkdirSync(screenshots, { recursive: true });
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export const desktop = { viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'UTC' };
export const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US', timezoneId: 'UTC' };

/** Starts recording long tasks and layout shifts in every page of the context, from its first script on. */
export async function recordPerformance(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const seen = { longTasks: [] as number[], shifts: [] as Array<{ value: number; at: number; sources: string[] }> };
    (window as unknown as { performanceSeen: typeof seen }).performanceSeen = seen;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) seen.longTasks.push(entry.duration);
    }).observe({ type: 'longtask', buffered: true });
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries() as Array<PerformanceEntry & { value: number; hadRecentInput: boolean; sources?: Array<{ node?: Node }> }>) {
        if (entry.hadRecentInput) continue;
        const sources = (entry.sources ?? []).map(({ node }) => (node instanceof Element ? `${node.tagName.toLowerCase()}#${node.id}.${node.className}` : String(node?.nodeName)));
        seen.shifts.push({ value: entry.value, at: entry.startTime, sources });
      }
    }).observe({ type: 'layout-shift', buffered: true });
  });
}

/** What recordPerformance saw after `since` (a performance.now() of the page): the longest task, and the layout shifts. */
export async function performanceSince(page: Page, since: number) {
  return page.evaluate((from) => {
    const seen = (window as unknown as { performanceSeen: { longTasks: number[]; shifts: Array<{ value: number; at: number; sources: string[] }> } }).performanceSeen;
    const shifts = seen.shifts.filter((shift) => shift.at >= from);
    return { longestTaskMs: Math.max(0, ...seen.longTasks), longTasks: seen.longTasks.length, shifts, layoutShift: shifts.reduce((sum, shift) => sum + shift.value, 0) };
  }, since);
}

/** How far the page is wider than its viewport (0: nothing sideways to scroll). */
export const sidewaysOverflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
