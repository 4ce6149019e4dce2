import { describe, expect, it } from 'vitest';
import { resultJson } from '../src/index.js';

const enc = new TextEncoder();
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const reply = (s: string) => resultJson(enc.encode(s), 'ns.svc.s.w.e');

describe("resultJson: a worker's reply to the JSON text of its result", () => {
  it('slices the result out of the bytes of an envelope as the SDK writes it', () => {
    for (const result of ['{"message":"hi","worker":"w1"}', '[1,2,3]', '"text"', '42', 'null', '{"nested":{"result":1}}', '{"a":"}"}']) {
      expect(text(reply(`{"result":${result}}`))).toBe(result);
    }
  });

  it('serializes the result again when the envelope is written otherwise', () => {
    expect(text(reply('{ "result": {"a": 1} }'))).toBe('{"a":1}');
    expect(text(reply('{"result":{"a":1}}\n'))).toBe('{"a":1}');
    expect(text(reply('{"result":{"a":1},"extra":true}'))).toBe('{"a":1}');
  });

  it("throws the worker's error, and BAD_GATEWAY for what is not an envelope", () => {
    expect(() => reply('{"error":{"code":"OVERLOADED","message":"busy","retryable":true}}')).toThrow(expect.objectContaining({ code: 'OVERLOADED', retryable: true }));
    for (const bad of ['not json', '{"result":', '[]', '{"nope":1}', '{"error":"x"}', '']) {
      expect(() => reply(bad)).toThrow(expect.objectContaining({ code: 'BAD_GATEWAY' }));
    }
  });
});
