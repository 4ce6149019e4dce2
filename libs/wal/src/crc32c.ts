// CRC32C (Castagnoli) from the pure-JS `crc-32` package (slicing-by-16, ~600 MB/s here). Castagnoli
// rather than the zlib polynomial because it is what storage systems use (ext4, iSCSI, LevelDB,
// etcd) and it detects more error patterns at these lengths. The package is CommonJS: the default
// import is its `exports` object under Node ESM, tsx, vitest and esbuild alike (the named-export
// form is not, since Node cannot see its exports statically).
import CRC32C from 'crc-32/crc32c.js';

/**
 * The CRC32C of `data` as an unsigned 32-bit number. Pass a previous result as `seed` to continue
 * over more bytes: `crc32c(b, crc32c(a))` equals the CRC of `a` followed by `b`.
 */
export function crc32c(data: Uint8Array, seed?: number): number {
  return CRC32C.buf(data, seed === undefined ? undefined : seed | 0) >>> 0;
}
