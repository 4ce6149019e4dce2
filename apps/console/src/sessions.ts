import { randomBytes } from 'node:crypto';
import type { ConsoleRole } from './users.js';

export interface Session {
  id: string;
  user: string;
  role: ConsoleRole;
  /** The token mutating calls must echo in `x-csrf-token`. */
  csrf: string;
  expiresAt: number;
}

/**
 * Server-side sessions: the cookie holds only a random id. Bounded: past `maxSessions` the oldest
 * goes. Expired ones are dropped when met and by `sweep()`.
 */
export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxSessions = 10_000,
  ) {}

  create(user: string, role: ConsoleRole): Session {
    const s: Session = { id: randomBytes(32).toString('base64url'), user, role, csrf: randomBytes(24).toString('base64url'), expiresAt: this.now() + this.ttlMs };
    this.byId.set(s.id, s);
    while (this.byId.size > this.maxSessions) this.byId.delete(this.byId.keys().next().value!);
    return s;
  }

  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const s = this.byId.get(id);
    if (s === undefined) return undefined;
    if (s.expiresAt <= this.now()) {
      this.byId.delete(id);
      return undefined;
    }
    return s;
  }

  destroy(id: string): void {
    this.byId.delete(id);
  }

  sweep(): void {
    const t = this.now();
    for (const [id, s] of this.byId) if (s.expiresAt <= t) this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }
}

/**
 * Login attempts per key (a user name, a client address) in a fixed window: at most `max` per
 * `windowMs`. Bounded: a key's window is dropped once over, and the map holds at most `maxKeys`.
 */
export class AttemptLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** Counts one attempt; returns the ms to wait when over the limit, else 0. */
  hit(key: string): number {
    const t = this.now();
    let w = this.windows.get(key);
    if (w === undefined || t - w.start >= this.windowMs) {
      this.windows.delete(key);
      w = { start: t, count: 0 };
      this.windows.set(key, w);
      while (this.windows.size > this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
    }
    w.count++;
    return w.count > this.max ? w.start + this.windowMs - t : 0;
  }
}
