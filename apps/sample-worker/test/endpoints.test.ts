import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HashInput, SynodError } from '@synod/protocol';
import { echo, hash, sleepFor } from '../src/endpoints.js';

describe('sample endpoints', () => {
  it('echo returns the message and the worker id', () => {
    expect(echo({ message: 'hi' }, 'w1')).toEqual({ message: 'hi', worker: 'w1' });
  });

  it('hash chains SHA-256 the requested number of rounds', () => {
    const one = createHash('sha256').update('x').digest();
    const two = createHash('sha256').update(one).digest('hex');
    expect(hash({ data: 'x', rounds: 1 }, 'w').digest).toBe(one.toString('hex'));
    expect(hash({ data: 'x', rounds: 2 }, 'w')).toEqual({ digest: two, rounds: 2, worker: 'w' });
    expect(hash(HashInput.parse({ rounds: 3 }), 'w').rounds).toBe(3);
  });

  // Found by the fuzzer (libs/fuzz): a million rounds ran to the end long after a 50 ms deadline,
  // the worker answering neither pings nor its ops server meanwhile.
  it('hash stops with DEADLINE_EXCEEDED once the deadline has passed, looking at the clock every 1024 rounds', () => {
    let clock = 0;
    const now = () => clock++;
    expect(() => hash({ data: 'x', rounds: 1_000_000 }, 'w', 2, now)).toThrow(expect.objectContaining({ code: 'DEADLINE_EXCEEDED', message: 'the deadline passed after 4096 of 1000000 rounds' }));
    expect(clock).toBe(4);
    expect(hash({ data: 'x', rounds: 3000 }, 'w', 100, () => 0).rounds).toBe(3000);
  });

  it('sleep resolves after the time, and fails with the abort reason at the deadline', async () => {
    await expect(sleepFor({ ms: 5 }, 'w', new AbortController().signal)).resolves.toEqual({ sleptMs: 5, worker: 'w' });
    const c = new AbortController();
    const p = sleepFor({ ms: 10_000 }, 'w', c.signal);
    c.abort(new SynodError('DEADLINE_EXCEEDED', 'deadline of 1 ms passed'));
    await expect(p).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
  });
});
