// Earnings per day as bars in an SVG of fixed size: credits minus reversals
// per UTC day, as GET /api/users/:userId/earnings/daily sums them. The page
// scales bars to fit (drawing, not money); each bar's title and the table
// beside it carry the API's exact amounts.

import type { DailyEarnings } from '../src/client/referral-client.js';
import { centsText, el } from './dom.js';

const width = 600;
const height = 180;
const svgNs = 'http://www.w3.org/2000/svg';

export function drawDailyChart(svg: SVGSVGElement, table: HTMLTableSectionElement, caption: HTMLElement, series: DailyEarnings): void {
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const values = series.daily.map((day) => Number(day.net));
  const top = Math.max(0, ...values);
  const bottom = Math.min(0, ...values);
  const span = top - bottom || 1;
  const zeroY = (top / span) * (height - 20) + 10;
  const slot = width / series.daily.length;
  const shapes: SVGElement[] = [line(0, zeroY, width, zeroY, 'axis')];
  series.daily.forEach((day, index) => {
    const value = values[index]!;
    const barHeight = (Math.abs(value) / span) * (height - 20);
    const bar = shape('rect', {
      x: String(index * slot + slot * 0.15), width: String(slot * 0.7),
      y: String(value >= 0 ? zeroY - barHeight : zeroY), height: String(Math.max(barHeight, value === 0 ? 0 : 1)),
      class: value < 0 ? 'bar negative' : 'bar',
    });
    bar.dataset.date = day.date;
    bar.append(shape('title', {}, `${day.date}: ${day.net} ${series.currency} (credits ${day.credits}, reversals ${day.reversals})`));
    shapes.push(bar);
  });
  svg.replaceChildren(...shapes);
  const best = series.daily.reduce((a, b) => (Number(b.net) > Number(a.net) ? b : a), series.daily[0]!);
  caption.textContent = `${series.from} to ${series.to} (UTC) · best day ${best.date}: ${centsText(best.net, series.currency)}`;
  table.replaceChildren(...[...series.daily].reverse().filter((day) => day.events > 0).map((day) =>
    el('tr', {}, el('th', { scope: 'row', textContent: day.date }), cell(day.credits), cell(day.reversals), cell(day.net))));
}

const cell = (amount: string) => el('td', { textContent: centsText(amount), title: `${amount} exactly` });

function line(x1: number, y1: number, x2: number, y2: number, className: string): SVGElement {
  return shape('line', { x1: String(x1), y1: String(y1), x2: String(x2), y2: String(y2), class: className });
}

function shape(tag: string, attributes: Record<string, string>, text?: string): SVGElement {
  const node = document.createElementNS(svgNs, tag) as SVGElement;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}
