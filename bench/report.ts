/**
 * Results as a table (stdout), JSON and a hand-written SVG chart. Every row
 * holds Parley's figure and the baseline's, and where measured the floor's;
 * "advantage" is how many times better Parley is than the baseline (>1) or
 * worse (<1), whichever direction is better.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Machine, Mode } from './env';

export type Better = 'lower' | 'higher';

export interface Row {
  metric: string;
  unit: string;
  parley: number | null;
  baseline: number | null;
  better: Better;
  /** What the baseline column holds when it is not the tutorial design as such. */
  baselineLabel?: string;
  /**
   * The floor: an echo handler on the same local gateway, no database (bench/floor.ts).
   * What any design pays here; Parley's figure reads as this plus its own cost.
   */
  floor?: number | null;
  /** False where a ratio means nothing (percent changes, say): no advantage is shown. */
  ratio?: boolean;
  goal?: { text: string; met: boolean | null };
}

export interface Figure {
  id: number;
  title: string;
  /** How it was measured, in a sentence or two: printed with the table. */
  method: string;
  rows: Row[];
  notes: string[];
  error?: string;
  seconds?: number;
}

export interface Results {
  generatedAt: string;
  mode: Mode;
  seconds: number;
  machine: Machine;
  /** The machine is shared: its load when the run ended, beside the one at the start. */
  loadAverageAtEnd: number[];
  figures: Figure[];
}

export function advantage(row: Row): number | null {
  const { parley: p, baseline: b } = row;
  if (p === null || b === null || row.ratio === false) return null;
  const [num, den] = row.better === 'lower' ? [b, p] : [p, b];
  if (den === 0) return num === 0 ? 1 : Number.POSITIVE_INFINITY;
  return num / den;
}

export function formatNumber(x: number | null): string {
  if (x === null || Number.isNaN(x)) return 'n/a';
  if (!Number.isFinite(x)) return '∞';
  const abs = Math.abs(x);
  if (abs >= 100) return Math.round(x).toLocaleString('en-US');
  if (abs >= 10) return String(Math.round(x * 10) / 10);
  return String(Math.round(x * 100) / 100);
}

export function formatAdvantage(row: Row): string {
  const a = advantage(row);
  if (a === null) return '';
  if (!Number.isFinite(a)) return '∞×';
  const times = (x: number) => `${x >= 10 ? x.toFixed(0) : x.toFixed(1)}×`;
  if (a === 0) return '∞× worse';
  return a < 0.95 ? `${times(1 / a)} worse` : times(a);
}

const goalText = (row: Row) => (row.goal ? `${row.goal.met === null ? '?' : row.goal.met ? 'met' : 'MISSED'} (${row.goal.text})` : '');

// ---------------------------------------------------------------- table

/** Columns 2 to `lastNumeric` hold numbers and are right-aligned. */
function pad(cells: string[][], lastNumeric = 4): string[] {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => [...(r[i] ?? '')].length)));
  return cells.map((r) => r.map((c, i) => (i >= 2 && i <= lastNumeric ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

export function renderTable(results: Results): string {
  const m = results.machine;
  const out: string[] = [
    `Parley bench (${results.mode} mode), ${results.generatedAt}, ${results.seconds.toFixed(0)} s`,
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}, load average ${m.loadAverage.join(' / ')} at start, ${results.loadAverageAtEnd.join(' / ')} at end`,
    'Advantage: how many times better Parley is than the baseline column (lower is better unless marked ↑).',
    'Floor, where shown: an echo handler on the same local gateway with no database, which any design pays here.',
    '',
  ];
  for (const f of results.figures) {
    out.push(`${f.id}. ${f.title}${f.seconds !== undefined ? `  [${f.seconds.toFixed(0)} s]` : ''}`);
    out.push(...wrap(`How: ${f.method}`, 110, '   '));
    if (f.error) out.push(...f.error.split('\n').slice(0, 4).map((l, i) => `   ${i === 0 ? 'ERROR: ' : '  '}${l.trim()}`));
    if (f.rows.length) {
      // The floor column only where a figure measured one.
      const floor = f.rows.some((r) => r.floor !== undefined);
      const cells = [
        ['metric', 'unit', 'Parley', 'baseline', ...(floor ? ['floor'] : []), 'advantage', 'goal'],
        ...f.rows.map((r) => [
          `${r.metric}${r.better === 'higher' ? ' ↑' : ''}${r.baselineLabel ? ` (baseline: ${r.baselineLabel})` : ''}`,
          r.unit,
          formatNumber(r.parley),
          formatNumber(r.baseline),
          ...(floor ? [r.floor === undefined ? '' : formatNumber(r.floor)] : []),
          formatAdvantage(r),
          goalText(r),
        ]),
      ];
      out.push(...pad(cells, floor ? 5 : 4).map((l) => `   ${l}`));
    }
    for (const n of f.notes) out.push(...wrap(`- ${n}`, 110, '   '));
    out.push('');
  }
  return out.join('\n');
}

function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(indent + line);
      line = '  ' + word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}

// ---------------------------------------------------------------- SVG

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const COLORS = { parley: '#4f46e5', baseline: '#9ca3af', floor: '#f59e0b', text: '#111827', muted: '#6b7280', met: '#059669', missed: '#dc2626' };

/**
 * One pair of bars per row, each pair scaled to its own larger value, so
 * rows of different units share a chart; the numbers are printed beside.
 */
export function renderSvg(results: Results): string {
  const W = 980;
  const labelW = 400;
  const barX = labelW + 10;
  const barW = 330;
  const rowH = 30;
  const parts: string[] = [];
  let y = 28;
  const text = (x: number, yy: number, s: string, attrs = '') => parts.push(`<text x="${x}" y="${yy}" ${attrs}>${esc(s)}</text>`);

  text(16, y, `Parley vs the tutorial design (${results.mode} mode)`, 'font-size="18" font-weight="700"');
  y += 20;
  const m = results.machine;
  text(16, y, `${results.generatedAt.slice(0, 16).replace('T', ' ')} UTC · ${m.cpus} × ${m.cpuModel} · ${m.memoryGiB} GiB · Node ${m.node}`, `font-size="12" fill="${COLORS.muted}"`);
  y += 22;
  parts.push(`<rect x="16" y="${y - 10}" width="12" height="12" fill="${COLORS.parley}"/>`);
  text(34, y, 'Parley', 'font-size="12"');
  parts.push(`<rect x="96" y="${y - 10}" width="12" height="12" fill="${COLORS.baseline}"/>`);
  text(114, y, 'baseline (tutorial design, or the named alternative)', 'font-size="12"');
  parts.push(`<rect x="450" y="${y - 11}" width="3" height="14" fill="${COLORS.floor}"/>`);
  text(460, y, 'floor (echo handler, same gateway)', 'font-size="12"');
  text(W - 16, y, 'advantage: × better for Parley', `font-size="12" text-anchor="end" fill="${COLORS.muted}"`);
  y += 16;

  for (const f of results.figures) {
    const rows = f.rows.filter((r) => r.parley !== null || r.baseline !== null);
    y += 24;
    text(16, y, `${f.id}. ${f.title}${f.error ? ' (error)' : ''}`, 'font-size="14" font-weight="700"');
    y += 8;
    for (const r of rows) {
      const top = y + 6;
      const scale = Math.max(Math.abs(r.parley ?? 0), Math.abs(r.baseline ?? 0), Math.abs(r.floor ?? 0)) || 1;
      const label = `${r.metric}${r.baselineLabel ? ` vs ${r.baselineLabel}` : ''}`;
      text(16, top + 14, label.length > 62 ? `${label.slice(0, 61)}…` : label, 'font-size="11"');
      const bar = (value: number | null, yy: number, color: string) => {
        const w = value === null || !Number.isFinite(value) ? 0 : Math.max(1, (Math.abs(value) / scale) * barW);
        parts.push(`<rect x="${barX}" y="${yy}" width="${w.toFixed(1)}" height="10" fill="${color}" rx="2"/>`);
        text(barX + w + 6, yy + 9, `${formatNumber(value)} ${value === null ? '' : r.unit}`.trim(), `font-size="10" fill="${COLORS.muted}"`);
      };
      bar(r.parley, top, COLORS.parley);
      bar(r.baseline, top + 12, COLORS.baseline);
      // The floor as a tick across both bars: what lies left of it any design pays here.
      if (typeof r.floor === 'number' && Number.isFinite(r.floor)) {
        const fx = barX + (Math.abs(r.floor) / scale) * barW;
        parts.push(`<rect x="${(fx - 1).toFixed(1)}" y="${top - 2}" width="2" height="26" fill="${COLORS.floor}"><title>${esc(`floor ${formatNumber(r.floor)} ${r.unit}`)}</title></rect>`);
      }
      const adv = formatAdvantage(r);
      const goal = r.goal ? (r.goal.met === null ? '' : r.goal.met ? ' ✓' : ' ✗') : '';
      const color = r.goal?.met === false ? COLORS.missed : r.goal?.met ? COLORS.met : COLORS.text;
      if (adv || goal) text(W - 16, top + 14, `${adv}${goal}`, `font-size="12" text-anchor="end" fill="${color}"`);
      y += rowH;
    }
  }
  y += 20;
  text(16, y, 'Each pair of bars is scaled to its own larger value (or the floor\'s). ✓/✗: the goal for that row. Details: bench/results/latest.json', `font-size="11" fill="${COLORS.muted}"`);
  const H = y + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" fill="${COLORS.text}">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- files

/** JSON with advantages spelled out; Infinity becomes the string "inf". */
function toJson(results: Results): string {
  const figures = results.figures.map((f) => ({
    ...f,
    rows: f.rows.map((r) => {
      const a = advantage(r);
      return { ...r, advantage: a === null ? null : Number.isFinite(a) ? Math.round(a * 100) / 100 : 'inf' };
    }),
  }));
  return `${JSON.stringify({ ...results, figures }, null, 2)}\n`;
}

/** Writes <name>.json and <name>.svg, each via a temporary file so a reader never sees half of one. */
export function writeResults(results: Results, dir: string, name = 'latest'): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${name}.json`);
  const svg = join(dir, `${name}.svg`);
  for (const [file, body] of [
    [json, toJson(results)],
    [svg, renderSvg(results)],
  ] as const) {
    writeFileSync(`${file}.tmp`, body);
    renameSync(`${file}.tmp`, file);
  }
  return { json, svg };
}
