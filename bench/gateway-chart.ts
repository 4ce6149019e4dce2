// Hand-written SVG: latency by percentile, one line per series, on a log latency axis and the
// usual "nines" percentile axis (p0, p90, p99, p99.9, p99.99 equally spaced).
import type { Histogram } from 'hdr-histogram-js';

/** A latency distribution: the latency in ms at percentile p, and how many samples it holds. */
export interface Distribution {
  at(p: number): number;
  count: number;
}

export interface Series {
  name: string;
  color: string;
  latency: Distribution;
}

/** An HDR histogram (microseconds) as a distribution in ms. */
export function fromHistogram(h: Histogram): Distribution {
  return { at: (p) => h.getValueAtPercentile(p) / 1000, count: h.totalCount };
}

const W = 720;
const H = 420;
const M = { left: 64, right: 200, top: 40, bottom: 48 };
const MAX_NINES = 4;

/** The percentiles sampled: evenly spaced on the nines axis up to p99.99. */
function percentiles(): number[] {
  const out: number[] = [];
  for (let x = 0; x <= MAX_NINES + 1e-9; x += 0.05) out.push(100 * (1 - Math.pow(10, -x)));
  return out;
}

const nines = (p: number): number => Math.min(MAX_NINES, -Math.log10(1 - p / 100));
const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function latencyChart(title: string, series: Series[]): string {
  const points = series.map((s) =>
    percentiles()
      .filter((p) => s.latency.count > 0 && (p <= 99.99 || s.latency.count >= 10_000))
      .map((p) => [nines(p), Math.max(0.01, s.latency.at(p))] as const),
  );
  const all = points.flat().map(([, ms]) => ms);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all, 1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all, 1) * 1.01)));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (n: number): number => M.left + (n / MAX_NINES) * pw;
  const y = (ms: number): number => M.top + ph - ((Math.log10(ms) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${M.left}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);
  const labels = ['p0', 'p90', 'p99', 'p99.9', 'p99.99'];
  for (let n = 0; n <= MAX_NINES; n++) {
    parts.push(`<line x1="${x(n)}" y1="${M.top}" x2="${x(n)}" y2="${M.top + ph}" stroke="#ddd"/>`);
    parts.push(`<text x="${x(n)}" y="${M.top + ph + 18}" text-anchor="middle">${labels[n]}</text>`);
  }
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    parts.push(`<line x1="${M.left}" y1="${y(d)}" x2="${M.left + pw}" y2="${y(d)}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.left - 6}" y="${y(d) + 4}" text-anchor="end">${d >= 1 ? d.toFixed(0) : d.toString()} ms</text>`);
  }
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle">percentile</text>`);
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  series.forEach((s, i) => {
    const pts = points[i]!;
    if (pts.length > 0) {
      const d = pts.map(([n, ms], k) => `${k === 0 ? 'M' : 'L'}${x(n).toFixed(1)},${y(ms).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    }
    const ly = M.top + 10 + i * 20;
    parts.push(`<line x1="${M.left + pw + 14}" y1="${ly}" x2="${M.left + pw + 34}" y2="${ly}" stroke="${s.color}" stroke-width="3"/>`);
    parts.push(`<text x="${M.left + pw + 40}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
