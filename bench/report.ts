// The bench's results: each measure as figures with units (so that runs on
// two transports can be divided), each failed check by name, one table on
// the terminal and in bench/results/<timestamp>.md, everything in .json.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { projectRoot } from '../bridge/src/project-paths.js';

export interface Figure {
  value: number;
  unit: '/s' | 'ms' | 's' | 'MiB' | '%' | '×';
  digits: number;
}

export const rate = (value: number): Figure => ({ value, unit: '/s', digits: 0 });
export const millis = (value: number, digits = 2): Figure => ({ value, unit: 'ms', digits });
export const secs = (value: number): Figure => ({ value, unit: 's', digits: 2 });
export const mebibytes = (value: number): Figure => ({ value, unit: 'MiB', digits: 0 });
export const percent = (value: number): Figure => ({ value, unit: '%', digits: 0 });
export const times = (value: number): Figure => ({ value, unit: '×', digits: 2 });

const show = ({ value, unit, digits }: Figure) =>
  !Number.isFinite(value) ? 'n/a' : `${value.toFixed(digits)}${unit === '/s' || unit === '%' || unit === '×' ? unit : ` ${unit}`}`;

/** How often subscribers resumed, and after which close codes: "resumed 3 times (1006 ×1, 4008 ×2)". */
export function resumesNote(subscribers: Array<{ tally: { closeCodes: number[] } }>): string {
  const codes = subscribers.flatMap((subscriber) => subscriber.tally.closeCodes);
  if (codes.length === 0) return 'never resumed';
  const byCode = new Map<number, number>();
  for (const code of codes) byCode.set(code, (byCode.get(code) ?? 0) + 1);
  return `resumed ${codes.length === 1 ? 'once' : `${codes.length} times`} (${[...byCode].sort(([a], [b]) => a - b).map(([code, count]) => `${code} ×${count}`).join(', ')})`;
}

export interface Row {
  scenario: string;
  /** The bridge's transport, for scenarios measured once per transport; "node/uws" on ratio rows. */
  transport: string;
  measure: string;
  figures: Figure[];
  value: string;
  note: string;
}

export interface Report {
  rows: Row[];
  failures: string[];
}

export const newReport = (): Report => ({ rows: [], failures: [] });

export function addRow(report: Report, row: Omit<Row, 'value'>): void {
  const full = { ...row, value: row.figures.map(show).join(', ') };
  report.rows.push(full);
  process.stdout.write(`  ${[full.transport.padEnd(5), full.measure.padEnd(46), full.value, full.note && `(${full.note})`].join(' ')}\n`);
}

/** Figures that are themselves relative (a share, a gain, a ratio) are not divided again. */
const absolute = (figure: Figure) => figure.unit !== '%' && figure.unit !== '×';

/**
 * For each measure taken on both transports, node's figures divided by
 * uws's: above 1 node takes longer (or serves more), below 1 less.
 */
export function transportRatios(rows: Row[]): Row[] {
  const ratios: Row[] = [];
  for (const node of rows.filter((row) => row.transport === 'node' && row.figures.every(absolute))) {
    const uws = rows.find((row) => row.transport === 'uws' && row.scenario === node.scenario && row.measure === node.measure);
    if (!uws || uws.figures.length !== node.figures.length) continue;
    const figures = node.figures.map((figure, index) => times(figure.value / (uws.figures[index]?.value ?? Number.NaN)));
    ratios.push({ scenario: node.scenario, transport: 'node/uws', measure: node.measure, figures, value: figures.map(show).join(', '), note: '' });
  }
  return ratios;
}

const columns = ['scenario', 'transport', 'measure', 'value', 'note'] as const;

/** The rows as a table for the terminal: aligned columns. */
export function textTable(rows: Row[]): string {
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => row[column].length)));
  const line = (cells: readonly string[]) => cells.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ').trimEnd();
  return [line(columns), line(widths.map((width) => '-'.repeat(width))), ...rows.map((row) => line(columns.map((column) => row[column])))].join('\n');
}

function markdownTable(rows: Row[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(columns), line(columns.map(() => '---')), ...rows.map((row) => line(columns.map((column) => row[column])))].join('\n');
}

export interface RunDescription {
  at: string;
  full: boolean;
  seconds: number;
  machine: string;
  node: string;
  transports: string;
  database: string;
  scenarios: number[];
}

export function headline(run: RunDescription): string {
  return `Measured ${run.at} on ${run.machine}, Node ${run.node}; ${run.seconds} s per load${run.full ? ' (--full)' : ''}; ` +
    `scenarios ${run.scenarios.join(', ')}; transports: ${run.transports}; database: ${run.database}.`;
}

/** Writes bench/results/<timestamp>.json and .md; returns their path without the extension. */
export async function writeResults(run: RunDescription, rows: Row[], failures: string[]): Promise<string> {
  const folder = path.join(projectRoot, 'bench', 'results');
  await mkdir(folder, { recursive: true });
  const stem = path.join('bench', 'results', run.at.replace(/[:.]/g, '-'));
  await writeFile(path.join(projectRoot, `${stem}.json`), `${JSON.stringify({ ...run, rows, failures }, null, 2)}\n`);
  const verdict = failures.length ? `Correctness checks FAILED:\n\n${failures.map((failure) => `- ${failure}`).join('\n')}` : 'Every correctness check passed.';
  await writeFile(path.join(projectRoot, `${stem}.md`), `${headline(run)}\n\n${markdownTable(rows)}\n\n${verdict}\n`);
  return stem;
}
