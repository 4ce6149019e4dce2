import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { html } from './html.js';

export interface Series {
  label: string;
  /** One value per x (null: a gap). */
  values: (number | null)[];
  stroke: string;
}

/** A time-series line chart (uPlot): x in seconds since the epoch, one or more series, fixed unit label. */
export function TimeChart(props: { title: string; unit: string; x: number[]; series: Series[]; height?: number; testId?: string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = props.series.map((s) => s.label).join('|');
  useEffect(() => {
    if (!el.current) return;
    const opts: uPlot.Options = {
      title: props.title,
      width: Math.max(320, el.current.clientWidth || 640),
      height: props.height ?? 200,
      scales: { x: { time: true } },
      axes: [{}, { label: props.unit, size: 60 }],
      series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: false }))],
    };
    plot.current = new uPlot(opts, [props.x, ...props.series.map((s) => s.values)] as uPlot.AlignedData, el.current);
    const resize = () => plot.current?.setSize({ width: Math.max(320, el.current?.clientWidth ?? 640), height: props.height ?? 200 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.current?.destroy();
      plot.current = null;
    };
  }, [key]);
  useEffect(() => {
    plot.current?.setData([props.x, ...props.series.map((s) => s.values)] as uPlot.AlignedData);
  });
  return html`<div class="chart" data-testid=${props.testId} ref=${el}></div>`;
}
