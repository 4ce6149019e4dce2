/**
 * What the fuzzer knows about the stack it runs against, learned while setting it up. Semantic
 * cases are written against it ("a lease id never granted", "the token of another lock"), so an
 * input stays a small symbolic description that is resolved only when it is sent.
 */
export interface FuzzContext {
  namespace: string;
  replicaIds: string[];
  /** The live workers (from their ready lines): ids, service and endpoints. */
  workers: { id: string; service: string; endpoints: string[] }[];
  /** A subject under the fuzzer's own inbox prefix (watch events are published there). */
  inbox(n: number): string;
  /** The fuzzer's exactly-once session with the store. */
  clientId: string;
  nextSeq(): number;
  store: {
    /** Compacted during setup: reads, watches and compactions at or below it answer COMPACTED. */
    compactRevision: number;
    /** The highest revision seen so far (replies and status). */
    revision: number;
    /**
     * Keys under this prefix, written during setup from revision `bigFromRevision` on, hold values
     * that together far exceed one NATS message (`bigCount` of them).
     */
    bigPrefix: string;
    bigFromRevision: number;
    bigCount: number;
  };
  lock: {
    /** A lock held, for the whole run, by `heldLease` with fencing token `heldToken`. */
    heldName: string;
    heldLease: number;
    heldToken: number;
    /** A session lease of the fuzzer's own, alive for the whole run, used by valid acquires. */
    ownLease: number;
    /** An optimistic key at version 1. */
    casKey: string;
  };
  /** Keys (and key prefixes) of the fixtures: the store keys of the held lock and the optimistic key among them. */
  protectedKeys: string[];
  /** The gateway's admin token (admin routes are fuzzed with and without it). */
  adminToken: string;
  /** The gateway's API key (its `/v1/` routes are fuzzed with and without it). */
  apiKey: string;
  /** The origin the gateway's CORS allows. */
  corsOrigin: string;
  /** The synod-timeout-ms every request carries unless the header itself is fuzzed, in ms. */
  requestTimeoutMs: number;
  limits: {
    /** Largest request each bus API accepts, in bytes. */
    requestBytes: Record<'store' | 'lock' | 'lockAdmin' | 'worker' | 'ping' | 'registry' | 'default', number>;
    /** The NATS server's max_payload. */
    natsMaxPayload: number;
    /** The gateway's MAX_BODY_BYTES. */
    httpBodyBytes: number;
  };
}

/** Lease ids never granted: far above any the store assigns (log indexes) and never granted by the fuzzer. */
export const NEVER_GRANTED_LEASE_BASE = 2 ** 52;
export const NEVER_GRANTED_LEASE_SPAN = 1_000_000;
export const neverGrantedLease = (n: number): number => NEVER_GRANTED_LEASE_BASE + (Math.abs(Math.trunc(n)) % NEVER_GRANTED_LEASE_SPAN);
