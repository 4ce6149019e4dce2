
/**
 * A sorted set of strings (JS string order) as a list of sorted chunks: lookups are two binary
 * searches, an insert or delete moves at most one chunk's worth of entries, and iteration from a
 * lower bound is in order. Plain arrays only, so 100,000 keys cost little beyond the strings.
 */
export class SortedKeys {
  private chunks: string[][] = [];
  private count = 0;

  /** @param maxChunk most keys in one chunk; a fuller chunk splits in two. */
  constructor(private readonly maxChunk = 512) {}

  get size(): number {
    return this.count;
  }

  has(key: string): boolean {
    const c = this.chunkFor(key);
    if (c < 0) return false;
    const chunk = this.chunks[c] as string[];
    const i = lowerBound(chunk, key);
    return chunk[i] === key;
  }

  /** Adds `key`; false if it was already there. */
  add(key: string): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.count = 1;
      return true;
    }
    let c = this.chunkFor(key);
    // Past every chunk's last key: append to the last chunk.
    if (c < 0) c = this.chunks.length - 1;
    const chunk = this.chunks[c] as string[];
    const i = lowerBound(chunk, key);
    if (chunk[i] === key) return false;
    chunk.splice(i, 0, key);
    this.count++;
    if (chunk.length > this.maxChunk) {
      this.chunks.splice(c + 1, 0, chunk.splice(chunk.length >> 1));
    }
    return true;
  }

  /** Removes `key`; false if it was not there. */
  delete(key: string): boolean {
    const c = this.chunkFor(key);
    if (c < 0) return false;
    const chunk = this.chunks[c] as string[];
    const i = lowerBound(chunk, key);
    if (chunk[i] !== key) return false;
    chunk.splice(i, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(c, 1);
    return true;
  }

  /** Keys >= `from` (or > `from` when `exclusive`), in order. */
  *from(from: string, exclusive = false): Generator<string> {
    let c = this.chunkFor(from);
    if (c < 0) return;
    let chunk = this.chunks[c] as string[];
    let i = lowerBound(chunk, from);
    if (exclusive && chunk[i] === from) i++;
    for (;;) {
      while (i < chunk.length) yield chunk[i++] as string;
      c++;
      if (c >= this.chunks.length) return;
      chunk = this.chunks[c] as string[];
      i = 0;
    }
  }

  /** Every key, in order. */
  *[Symbol.iterator](): Generator<string> {
    for (const chunk of this.chunks) yield* chunk;
  }

  /** Index of the first chunk whose last key is >= `key`, or -1 if there is none. */
  private chunkFor(key: string): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.chunks[mid] as string[];
      if ((chunk[chunk.length - 1] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.chunks.length ? lo : -1;
  }
}

/** First index of `sorted` whose entry is >= `key`. */
function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
