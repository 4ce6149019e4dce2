import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { parseCompare, parseTxn, parseTxnOp } from '../src/txn-syntax.js';

describe('txn syntax', () => {
  it('parses compares on every target', () => {
    expect(parseCompare('a version = 0')).toEqual({ key: 'a', target: 'version', op: '=', value: 0 });
    expect(parseCompare('a create > 3')).toEqual({ key: 'a', target: 'createRevision', op: '>', value: 3 });
    expect(parseCompare('a modRevision < 10')).toEqual({ key: 'a', target: 'modRevision', op: '<', value: 10 });
    expect(parseCompare('a lease != 7')).toEqual({ key: 'a', target: 'lease', op: '!=', value: 7 });
    expect(parseCompare('a exists = false')).toEqual({ key: 'a', target: 'exists', op: '=', value: false });
    expect(parseCompare('a value = hello world')).toEqual({ key: 'a', target: 'value', op: '=', value: 'hello world' });
    expect(parseCompare('a value != ""')).toEqual({ key: 'a', target: 'value', op: '!=', value: '' });
    expect(parseCompare('"key with spaces" value = " padded "')).toEqual({ key: 'key with spaces', target: 'value', op: '=', value: ' padded ' });
    expect(parseCompare('  a   version   =   2  ')).toEqual({ key: 'a', target: 'version', op: '=', value: 2 });
  });

  it('parses operations', () => {
    expect(parseTxnOp('put a 1')).toEqual({ op: 'put', key: 'a', value: '1' });
    expect(parseTxnOp('put a two words')).toEqual({ op: 'put', key: 'a', value: 'two words' });
    expect(parseTxnOp('put a "line\\nbreak"')).toEqual({ op: 'put', key: 'a', value: 'line\nbreak' });
    expect(parseTxnOp('put a ""')).toEqual({ op: 'put', key: 'a', value: '' });
    expect(parseTxnOp('del a')).toEqual({ op: 'delete', key: 'a' });
    expect(parseTxnOp('delete a/ --prefix')).toEqual({ op: 'delete', key: 'a/', prefix: true });
    expect(parseTxnOp('get a')).toEqual({ op: 'range', key: 'a' });
    expect(parseTxnOp('get a/ --prefix --limit 5')).toEqual({ op: 'range', key: 'a/', prefix: true, limit: 5 });
    expect(parseTxn(['a version = 0'], ['put a 1'], ['get a'])).toEqual({
      compare: [{ key: 'a', target: 'version', op: '=', value: 0 }],
      success: [{ op: 'put', key: 'a', value: '1' }],
      failure: [{ op: 'range', key: 'a' }],
    });
  });

  it.each([
    ['a', 'missing target'],
    ['a version', 'missing operator'],
    ['a version =', 'missing value'],
    ['a color = 1', 'unknown compare target'],
    ['a version == 1', 'unknown operator'],
    ['a version = x', 'non-negative integer'],
    ['a version = -1', 'non-negative integer'],
    ['a version = 1 2', 'unexpected text'],
    ['a exists < true', 'exists compares only'],
    ['a exists = yes', 'true or false'],
    ['a value =', 'missing value'],
    ['"unterminated value = 1', 'unterminated'],
  ])('rejects the compare %j (%s)', (text, message) => {
    expect(() => parseCompare(text)).toThrow(UsageError);
    expect(() => parseCompare(text)).toThrow(message);
  });

  it.each([
    ['', 'missing operation'],
    ['put', 'missing key'],
    ['put a', 'missing value'],
    ['put a "x" y', 'whole rest'],
    ['move a b', 'unknown txn operation'],
    ['del a --limit 3', 'unexpected'],
    ['get a --limit', 'non-negative integer'],
    ['get a --sideways', 'unexpected'],
  ])('rejects the operation %j (%s)', (text, message) => {
    expect(() => parseTxnOp(text)).toThrow(UsageError);
    expect(() => parseTxnOp(text)).toThrow(message);
  });
});
