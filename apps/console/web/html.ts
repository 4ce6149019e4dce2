import htm from 'htm';
import { h } from 'preact';

/** JSX-like templates without a JSX build step. */
export const html = htm.bind(h);

export const fmtMs = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '—' : ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`);
export const fmtTime = (t: number): string => new Date(t).toLocaleTimeString();
