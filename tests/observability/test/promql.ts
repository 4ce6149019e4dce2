/** A metric a query reads, and the `app` its matchers name (undefined when they name none). */
export interface MetricRef {
  metric: string;
  app: string | undefined;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g;

/**
 * The metrics a PromQL expression reads: every name that is not a function, keyword or label, with
 * the app named by an `app="..."` matcher beside it. Grafana's `$__`-variables are taken out first.
 */
export function metricsOf(expr: string): MetricRef[] {
  const refs: MetricRef[] = [];
  let rest = expr.replace(/\$\{?\w+\}?/g, '1m');
  // Selectors with matchers first: the name and the app they name.
  rest = rest.replace(/([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g, (_all, metric: string | undefined, matchers: string) => {
    const app = /(?:^|,)\s*app\s*=\s*"([^"]*)"/.exec(matchers)?.[1];
    const named = metric ?? /(?:^|,)\s*__name__\s*=\s*"([^"]*)"/.exec(matchers)?.[1];
    if (named !== undefined && !KEYWORDS.has(named)) refs.push({ metric: named, app });
    return ' ';
  });
  rest = rest
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(GROUPING, ' ');
  for (const m of rest.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] !== undefined || KEYWORDS.has(m[1]!.toLowerCase())) continue;
    refs.push({ metric: m[1]!, app: undefined });
  }
  return refs;
}
