import fc from 'fast-check';
import { EXPECT_ANY, casesFor, templatesFor, type Expect, type ParamValues, type SemanticCase, type Template } from './apis.js';
import type { FuzzContext } from './context.js';
import type { ApiName } from './targets.js';

/**
 * Hostile request bodies as small symbolic descriptions (a template index, a field index, a
 * replacement), rendered to bytes against the live context only when sent: counterexamples print
 * short, oversized and deeply nested bodies are not held in the report, and a seed replays them.
 */

/** A value put in place of a field: JSON, or a literal JSON cannot carry (NaN, 1e400, an integer past 2^64). */
export type Replacement = { json: unknown } | { text: string };

export type PayloadSpec =
  /** A valid request as it is. */
  | { kind: 'template'; t: number }
  /** One field (or object) of a valid request replaced: wrong types, huge numbers, NaN, negative sizes, unicode edge cases. */
  | { kind: 'replaced'; t: number; at: number; with: Replacement }
  /** A valid request cut short. */
  | { kind: 'truncated'; t: number; keepPerMille: number }
  /** Arrays or objects nested this deep, alone or in place of a field. */
  | { kind: 'nested'; t: number; depth: number; shape: 'array' | 'object'; inField: boolean }
  | { kind: 'bytes'; bytes: Uint8Array }
  /** A whole body that is not a request: `NaN`, `null`, `""`, a number, whitespace... */
  | { kind: 'text'; text: string }
  /** A valid request after a UTF-8 byte order mark. */
  | { kind: 'bom'; t: number }
  /** Invalid UTF-8 (a CESU-8 lone surrogate, an overlong NUL, a stray byte) spliced into a string of a valid request. */
  | { kind: 'bad-utf8'; t: number; at: number; bytes: number[] }
  /** Beyond a size limit by `extraBytes`: the API's own, NATS's max_payload, the HTTP body limit, or 1 MiB. */
  | { kind: 'oversized'; limit: 'api' | 'max-payload' | 'http-body' | 'beyond-1mib'; extraBytes: number }
  /** A well-formed request that is wrong for the state of the store or the locks. */
  | { kind: 'semantic'; c: number; n: number };

const MARK = '\u0001FUZZ\u0001';
const MARK_JSON = JSON.stringify(MARK);
const enc = new TextEncoder();

const wrongTypes: unknown[] = [null, true, false, 0, 1, -1, 1.5, '', 'x', [], {}, [1, 'a'], { a: 1 }, [null], '1', 'true'];
const hugeNumbers: Replacement[] = [
  { json: 1e308 },
  { json: -1e308 },
  { json: Number.MAX_SAFE_INTEGER },
  { json: 2 ** 53 },
  { json: 2 ** 53 + 2 },
  { json: 2 ** 63 },
  { json: 4294967296 },
  { text: '1e400' },
  { text: '-1e400' },
  { text: '123456789012345678901234567890' },
  { text: '-0' },
  { text: '1e-400' },
  { text: '0.1e1' },
];
const nanAndNegative: Replacement[] = [
  { text: 'NaN' },
  { text: 'Infinity' },
  { text: '-Infinity' },
  { text: 'undefined' },
  { json: -1 },
  { json: -(2 ** 31) },
  { json: -1e9 },
  { json: -0.5 },
  { json: -Number.MAX_SAFE_INTEGER },
];
const unicodeEdges: string[] = [
  '\ud800',
  '\udfff',
  'a\ud800b',
  '\udc00\ud800',
  '\ufeff',
  '\ufeffkey',
  '\u202eevil',
  'fuzz/\u202e\u200f',
  '\u0000',
  'a\u0000b',
  '\u2028\u2029',
  '\uffff',
  '\ufffe',
  'e\u0301\u0301\u0301',
  '😀',
  '\u{10ffff}',
  'ß'.repeat(3000),
  'x'.repeat(70_000),
  ' ',
  '..',
  '*',
  '>',
  'a.*.b',
];

/** Replacement values: wrong types, huge numbers, NaN and negative sizes, unicode edge cases, random strings. */
export const replacementArb: fc.Arbitrary<Replacement> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...wrongTypes).map((json): Replacement => ({ json })) },
  { weight: 3, arbitrary: fc.constantFrom(...hugeNumbers) },
  { weight: 3, arbitrary: fc.constantFrom(...nanAndNegative) },
  { weight: 3, arbitrary: fc.constantFrom(...unicodeEdges).map((json): Replacement => ({ json })) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((json): Replacement => ({ json })) },
  { weight: 1, arbitrary: fc.double().map((d): Replacement => (Number.isFinite(d) ? { json: d } : { text: String(d) })) },
  { weight: 1, arbitrary: fc.integer().map((json): Replacement => ({ json })) },
);

const badUtf8: number[][] = [
  [0xed, 0xa0, 0x80], // a lone high surrogate, CESU-8
  [0xed, 0xbf, 0xbf], // a lone low surrogate
  [0xc0, 0x80], // overlong NUL
  [0xff],
  [0xc3], // a lead byte without its continuation
  [0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
  [0xef, 0xbb, 0xbf], // a BOM inside a string
];

const wholeBodies = ['', ' ', 'null', 'true', '0', '-1', '"x"', '[]', 'NaN', 'Infinity', '{', '}', '{"type":', '{"type":"status"}{"type":"status"}', '\u0000', '[' + '1,'.repeat(1000) + '1]', '{"__proto__":{"type":"status"}}', '{"constructor":{"prototype":{}}}'];

/** Any payload, weighted toward what reaches past JSON parsing; semantic cases only for APIs that have them. */
export function payloadArb(semantic: boolean): fc.Arbitrary<PayloadSpec> {
  return semantic ? fc.oneof(...common, { weight: 6, arbitrary: semanticArb }) : fc.oneof(...common);
}

const semanticArb: fc.Arbitrary<PayloadSpec> = fc.record({ kind: fc.constant('semantic' as const), c: fc.nat(), n: fc.nat() });

const common: fc.WeightedArbitrary<PayloadSpec>[] = [
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('template' as const), t: fc.nat() }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('replaced' as const), t: fc.nat(), at: fc.nat(), with: replacementArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('truncated' as const), t: fc.nat(), keepPerMille: fc.integer({ min: 0, max: 999 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('nested' as const),
      t: fc.nat(),
      depth: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1_000, max: 200_000 })),
      shape: fc.constantFrom('array' as const, 'object' as const),
      inField: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 2048 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('text' as const), text: fc.oneof(fc.constantFrom(...wholeBodies), fc.json({ maxDepth: 3 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bom' as const), t: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('bad-utf8' as const), t: fc.nat(), at: fc.nat(), bytes: fc.constantFrom(...badUtf8) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('oversized' as const),
      limit: fc.constantFrom('api' as const, 'max-payload' as const, 'http-body' as const, 'beyond-1mib' as const),
      extraBytes: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 100_000 })),
    }),
  },
];

/** Every path into a value (fields and elements, nested ones included), root excluded. */
function pathsOf(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push([...prefix, i]);
      pathsOf(v, [...prefix, i], out);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push([...prefix, k]);
      pathsOf(v, [...prefix, k], out);
    }
  }
  return out;
}

function setAt(value: unknown, path: (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = (Array.isArray(value) ? [...(value as unknown[])] : { ...(value as Record<string, unknown>) }) as Record<string | number, unknown>;
  const [head, ...rest] = path;
  copy[head!] = setAt(copy[head!], rest, replacement);
  return copy;
}

/** A string field of the value (or undefined when it has none). */
function stringPaths(value: unknown): (string | number)[][] {
  return pathsOf(value).filter((p) => typeof p.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], value) === 'string');
}

function nestedText(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** One message or body as sent: its bytes (or only its size, for oversized ones) and what its reply must be. */
export interface Rendered {
  bytes: Uint8Array;
  expect: Expect;
  /** A description for reports. */
  what: string;
  /** The deadline the request carries instead of the usual one, in ms. */
  deadlineMs?: number;
  /** Every step after the first (semantic cases of several requests). */
  then?: { bytes: Uint8Array; expect: Expect; deadlineMs?: number }[];
  /** The template it was made from was `quick` (safe with a fuzzed deadline header). */
  quick?: boolean;
}

export interface RenderOptions {
  api: ApiName | undefined;
  ctx: FuzzContext;
  params: ParamValues;
  /** The byte limit `oversized` payloads go beyond, by kind of limit. */
  limits: Record<'api' | 'max-payload' | 'http-body' | 'beyond-1mib', number>;
}

const encodeJson = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));

/**
 * Turns a payload into bytes for the target's API, or undefined when it does not apply (a semantic
 * case of another endpoint, a target without semantic cases).
 */
export function renderPayload(p: PayloadSpec, o: RenderOptions): Rendered | undefined {
  const templates: Template[] = templatesFor(o.api, o.ctx, o.params);
  const pick = (t: number): Template => templates[t % templates.length]!;
  switch (p.kind) {
    case 'template': {
      const t = pick(p.t);
      return { bytes: encodeJson(t.body), expect: EXPECT_ANY, what: `template ${t.name}`, ...(t.quick ? { quick: true } : {}) };
    }
    case 'replaced': {
      const t = pick(p.t);
      const paths = pathsOf(t.body);
      const path = paths.length === 0 ? [] : paths[p.at % paths.length]!;
      const json = 'json' in p.with ? setAt(t.body, path, p.with.json) : setAt(t.body, path, MARK);
      let text = JSON.stringify(json) ?? 'null';
      if ('text' in p.with) text = text.replace(MARK_JSON, p.with.text);
      return { bytes: enc.encode(text), expect: EXPECT_ANY, what: `template ${t.name} with ${path.join('.') || '(the whole body)'} := ${'json' in p.with ? JSON.stringify(p.with.json)?.slice(0, 60) : p.with.text}` };
    }
    case 'truncated': {
      const t = pick(p.t);
      const full = encodeJson(t.body);
      return { bytes: full.subarray(0, Math.floor((full.length * p.keepPerMille) / 1000)), expect: EXPECT_ANY, what: `template ${t.name} cut at ${p.keepPerMille / 10}%` };
    }
    case 'nested': {
      const t = pick(p.t);
      const nested = nestedText(p.depth, p.shape);
      const paths = pathsOf(t.body);
      if (!p.inField || paths.length === 0) return { bytes: enc.encode(nested), expect: EXPECT_ANY, what: `${p.shape}s nested ${p.depth} deep` };
      const path = paths[p.depth % paths.length]!;
      const text = JSON.stringify(setAt(t.body, path, MARK)).replace(MARK_JSON, nested);
      return { bytes: enc.encode(text), expect: EXPECT_ANY, what: `template ${t.name} with ${path.join('.')} := ${p.shape}s nested ${p.depth} deep` };
    }
    case 'bytes':
      return { bytes: p.bytes, expect: EXPECT_ANY, what: `${p.bytes.length} random bytes` };
    case 'text':
      return { bytes: enc.encode(p.text), expect: EXPECT_ANY, what: `body ${JSON.stringify(p.text.slice(0, 60))}` };
    case 'bom': {
      const t = pick(p.t);
      return { bytes: Uint8Array.from([0xef, 0xbb, 0xbf, ...encodeJson(t.body)]), expect: EXPECT_ANY, what: `template ${t.name} after a byte order mark` };
    }
    case 'bad-utf8': {
      const t = pick(p.t);
      const paths = stringPaths(t.body);
      if (paths.length === 0) return { bytes: Uint8Array.from(p.bytes), expect: EXPECT_ANY, what: `invalid UTF-8 ${p.bytes.map((b) => b.toString(16)).join(' ')}` };
      const path = paths[p.at % paths.length]!;
      const text = JSON.stringify(setAt(t.body, path, MARK));
      const [before, after] = text.split(MARK_JSON) as [string, string];
      const bytes = Uint8Array.from([...enc.encode(`${before}"x`), ...p.bytes, ...enc.encode(`x"${after}`)]);
      return { bytes, expect: EXPECT_ANY, what: `template ${t.name} with invalid UTF-8 ${p.bytes.map((b) => b.toString(16)).join(' ')} in ${path.join('.')}` };
    }
    case 'oversized': {
      const size = o.limits[p.limit] + p.extraBytes;
      const t = pick(0);
      // A valid request padded with whitespace: only its size is wrong.
      const head = encodeJson(t.body);
      const bytes = new Uint8Array(Math.max(size, head.length)).fill(0x20);
      bytes.set(head, 0);
      return { bytes, expect: EXPECT_ANY, what: `${size} bytes (${p.limit} limit + ${p.extraBytes})` };
    }
    case 'semantic': {
      const c = semanticCase(o.api, p.c);
      if (!c) return undefined;
      const [first, ...rest] = c.steps(o.ctx, p.n);
      const deadline = (s: { deadlineMs?: number }) => (s.deadlineMs === undefined ? {} : { deadlineMs: s.deadlineMs });
      return {
        bytes: encodeJson(first!.body),
        expect: first!.expect,
        what: `semantic: ${c.name}`,
        ...deadline(first!),
        ...(rest.length > 0 ? { then: rest.map((s) => ({ bytes: encodeJson(s.body), expect: s.expect, ...deadline(s) })) } : {}),
      };
    }
  }
}

/** The semantic case a payload names, if the API has any (its `params` override the target's parameter picks). */
export function semanticCase(api: ApiName | undefined, c: number): SemanticCase | undefined {
  const cases = casesFor(api);
  return cases.length === 0 ? undefined : cases[c % cases.length];
}
