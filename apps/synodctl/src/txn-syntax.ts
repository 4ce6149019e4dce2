import type { Compare, TxnOp } from '@synod/protocol';
import { UsageError } from './errors.js';

/**
 * The text syntax of `synodctl kv txn`, one condition or operation per option:
 *
 *   --if   '<key> <target> <op> <value>'   target: value | version | create | mod | lease | exists
 *                                          op: = != < >  (exists: = or != with true|false)
 *   --then / --else
 *          'put <key> <value>'
 *          'del <key>'      'del <key> --prefix'
 *          'get <key>'      'get <key> --prefix'  'get <key> --limit N'
 *
 * Words are separated by spaces. A key may be written as a JSON string ("a key with spaces"). A
 * value runs to the end of the text, spaces included; write it as a JSON string for an empty value,
 * leading or trailing spaces, or escapes ("", " x ", "line\nbreak").
 */

const TARGETS: Record<string, Compare['target']> = {
  value: 'value',
  version: 'version',
  create: 'createRevision',
  createrevision: 'createRevision',
  mod: 'modRevision',
  modrevision: 'modRevision',
  lease: 'lease',
  exists: 'exists',
};

const OPS = new Set(['=', '!=', '<', '>']);

/** Reads one word (or JSON string) from `text` at `at`; returns it and where the rest starts. */
function word(text: string, at: number, what: string, source: string): { value: string; rest: number } {
  let i = at;
  while (i < text.length && text[i] === ' ') i++;
  if (i >= text.length) throw new UsageError(`missing ${what} in ${JSON.stringify(source)}`);
  if (text[i] === '"') {
    const end = closingQuote(text, i);
    if (end < 0) throw new UsageError(`unterminated quoted ${what} in ${JSON.stringify(source)}`);
    return { value: parseJsonString(text.slice(i, end + 1), what, source), rest: end + 1 };
  }
  let j = i;
  while (j < text.length && text[j] !== ' ') j++;
  return { value: text.slice(i, j), rest: j };
}

function closingQuote(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

function parseJsonString(literal: string, what: string, source: string): string {
  try {
    const v: unknown = JSON.parse(literal);
    if (typeof v === 'string') return v;
  } catch {
    // reported below
  }
  throw new UsageError(`bad quoted ${what} ${literal} in ${JSON.stringify(source)}`);
}

/** The value: the rest of the text after one space, or one JSON string filling the rest. */
function restValue(text: string, at: number, source: string): string {
  let rest = text.slice(at);
  if (rest.startsWith(' ')) rest = rest.slice(1);
  const trimmed = rest.trim();
  if (trimmed.startsWith('"')) {
    const end = closingQuote(trimmed, 0);
    if (end !== trimmed.length - 1) throw new UsageError(`a quoted value must be the whole rest of ${JSON.stringify(source)}`);
    return parseJsonString(trimmed, 'value', source);
  }
  if (rest === '') throw new UsageError(`missing value in ${JSON.stringify(source)} (write "" for an empty value)`);
  return rest;
}

function nonNegativeInt(s: string, what: string, source: string): number {
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new UsageError(`${what} must be a non-negative integer, got ${JSON.stringify(s)} in ${JSON.stringify(source)}`);
  return Number(s);
}

/** Parses one `--if` condition. */
export function parseCompare(source: string): Compare {
  const key = word(source, 0, 'key', source);
  const target = word(source, key.rest, 'target', source);
  const t = TARGETS[target.value.toLowerCase()];
  if (!t) throw new UsageError(`unknown compare target ${JSON.stringify(target.value)} in ${JSON.stringify(source)} (expected value, version, create, mod, lease or exists)`);
  const op = word(source, target.rest, 'operator', source);
  if (!OPS.has(op.value)) throw new UsageError(`unknown operator ${JSON.stringify(op.value)} in ${JSON.stringify(source)} (expected =, !=, < or >)`);
  const cmp = op.value as '=' | '!=' | '<' | '>';
  if (t === 'value') return { key: key.value, target: t, op: cmp, value: restValue(source, op.rest, source) };
  const v = word(source, op.rest, 'value', source);
  if (source.slice(v.rest).trim() !== '') throw new UsageError(`unexpected text after the value in ${JSON.stringify(source)}`);
  if (t === 'exists') {
    if (cmp !== '=' && cmp !== '!=') throw new UsageError(`exists compares only with = or != in ${JSON.stringify(source)}`);
    if (v.value !== 'true' && v.value !== 'false') throw new UsageError(`exists compares with true or false in ${JSON.stringify(source)}`);
    return { key: key.value, target: t, op: cmp, value: v.value === 'true' };
  }
  return { key: key.value, target: t, op: cmp, value: nonNegativeInt(v.value, t, source) };
}

/** Parses one `--then` / `--else` operation. */
export function parseTxnOp(source: string): TxnOp {
  const verb = word(source, 0, 'operation', source);
  const key = word(source, verb.rest, 'key', source);
  switch (verb.value) {
    case 'put':
      return { op: 'put', key: key.value, value: restValue(source, key.rest, source) };
    case 'del':
    case 'delete':
    case 'get':
    case 'range': {
      const flags = source.slice(key.rest).trim().split(/\s+/).filter((f) => f !== '');
      let prefix = false;
      let limit: number | undefined;
      for (let i = 0; i < flags.length; i++) {
        const f = flags[i];
        if (f === '--prefix') prefix = true;
        else if (f === '--limit' && (verb.value === 'get' || verb.value === 'range')) limit = nonNegativeInt(flags[++i] ?? '', 'limit', source);
        else throw new UsageError(`unexpected ${JSON.stringify(f)} in ${JSON.stringify(source)}`);
      }
      if (verb.value === 'del' || verb.value === 'delete') return prefix ? { op: 'delete', key: key.value, prefix } : { op: 'delete', key: key.value };
      const r: TxnOp = { op: 'range', key: key.value };
      if (prefix) r.prefix = true;
      if (limit !== undefined) r.limit = limit;
      return r;
    }
    default:
      throw new UsageError(`unknown txn operation ${JSON.stringify(verb.value)} in ${JSON.stringify(source)} (expected put, del or get)`);
  }
}

export function parseTxn(ifs: string[], thens: string[], elses: string[]): { compare: Compare[]; success: TxnOp[]; failure: TxnOp[] } {
  return { compare: ifs.map(parseCompare), success: thens.map(parseTxnOp), failure: elses.map(parseTxnOp) };
}
