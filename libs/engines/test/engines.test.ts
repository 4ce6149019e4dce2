import { describe, expect, it } from 'vitest';
import { DEFAULT_ENGINE, ENGINE_NAMES, ENGINES, KNOWN_ENGINES, engineNamed } from '../src/index.js';

describe('the engine table', () => {
  it('holds Raft and Multi-Paxos, each under its own module name, Raft first (the default)', () => {
    expect(ENGINE_NAMES).toEqual(['raft', 'paxos']);
    expect(DEFAULT_ENGINE).toBe('raft');
    for (const [name, module] of ENGINES) expect(module.name).toBe(name);
    expect(KNOWN_ENGINES).toBe('expected one of raft, paxos');
  });

  it('refuses a name not in the table, naming the known ones', () => {
    expect(() => engineNamed('zab')).toThrow('unknown engine "zab": expected one of raft, paxos');
  });
});
