import { STRATEGY_NAMES, type StrategyName } from '@synod/balancing';
import { EndpointName, ServiceName } from '@synod/protocol';
import { z } from 'zod';

const OVERRIDES_EXPECTED = `expected comma-separated service=strategy pairs, strategy one of ${STRATEGY_NAMES.join(', ')}`;

/**
 * `LB_STRATEGY_OVERRIDES`: `svc=p2c-ewma,other=least-outstanding` — a strategy per service, the
 * others using `LB_STRATEGY`.
 */
export const StrategyOverrides = z
  .string({ error: OVERRIDES_EXPECTED })
  .transform((s, ctx) => {
    const out = new Map<string, StrategyName>();
    for (const part of s.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
      const [svc, strategy, ...rest] = part.split('=').map((x) => x.trim());
      if (rest.length > 0 || !ServiceName.safeParse(svc).success || !(STRATEGY_NAMES as readonly string[]).includes(strategy ?? '')) {
        ctx.addIssue({ code: 'custom', message: `${OVERRIDES_EXPECTED}, got "${part}"` });
        return z.NEVER;
      }
      out.set(svc!, strategy as StrategyName);
    }
    return out;
  })
  .default(new Map());

const IDEMPOTENT_EXPECTED = 'expected comma-separated service/endpoint pairs (endpoint may be *)';

/**
 * `IDEMPOTENT_ENDPOINTS`: `sample/echo,billing/*` — endpoints the gateway may retry after a
 * timeout, besides the ones workers declare idempotent in their heartbeats.
 */
export const IdempotentEndpoints = z
  .string({ error: IDEMPOTENT_EXPECTED })
  .transform((s, ctx) => {
    const out = new Set<string>();
    for (const part of s.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
      const [svc, endpoint, ...rest] = part.split('/');
      if (rest.length > 0 || !ServiceName.safeParse(svc).success || !(endpoint === '*' || EndpointName.safeParse(endpoint).success)) {
        ctx.addIssue({ code: 'custom', message: `${IDEMPOTENT_EXPECTED}, got "${part}"` });
        return z.NEVER;
      }
      out.add(`${svc}/${endpoint}`);
    }
    return out;
  })
  .default(new Set());

/** `LB_HASH_BODY_FIELD`: a dotted path into the JSON body (`user.id`) whose value is the hash key. */
export const BodyFieldPath = z
  .string()
  .regex(/^[A-Za-z0-9_$-]{1,64}(\.[A-Za-z0-9_$-]{1,64}){0,7}$/, 'expected a dotted field path like user.id')
  .transform((s) => s.split('.'))
  .optional();

/** The routing key at `path` in a parsed JSON body: strings and finite numbers only. */
export function keyFromBody(body: unknown, path: readonly string[]): string | undefined {
  let v: unknown = body;
  for (const p of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, p)) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  if (typeof v === 'string') return v.length <= 1024 ? v : v.slice(0, 1024);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}
