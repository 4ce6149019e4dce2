import { describe, expect, it } from 'vitest';
import { crc32c } from '../src/index.js';
import {
  decodeMeta,
  decodeSnapshotHeader,
  encodeMeta,
  encodeRecords,
  encodeSnapshotHeader,
  snapshotHeaderCrc,
  parseSegmentName,
  parseSnapshotName,
  scanRecords,
  segmentName,
  snapshotName,
  validRecordAfter,
} from '../src/format.js';

describe('crc32c', () => {
  it('matches the Castagnoli check value and chains', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.from('56789'), crc32c(Buffer.from('1234')))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });
});

describe('record framing', () => {
  it('round-trips records, including empty ones', () => {
    const records = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('hello world')];
    const buf = encodeRecords(records);
    expect(buf.length).toBe(3 * 8 + 1 + 0 + 11);
    expect(buf.readUInt32LE(0)).toBe(1);
    const seen: string[] = [];
    expect(scanRecords(buf, (p) => seen.push(p.toString()))).toEqual({ count: 3, end: buf.length });
    expect(seen).toEqual(['a', '', 'hello world']);
  });

  it('never reads zero-filled space as records', () => {
    const scan = scanRecords(Buffer.alloc(64));
    expect(scan).toMatchObject({ count: 0, end: 0, problem: 'record CRC mismatch' });
    expect(validRecordAfter(Buffer.alloc(64), 0)).toBeUndefined();
  });

  it('reports incomplete headers, overlong lengths and CRC mismatches at the record start', () => {
    const buf = encodeRecords([Buffer.from('first'), Buffer.from('second')]);
    expect(scanRecords(buf.subarray(0, 13 + 5)).problem).toMatch(/incomplete record header/);
    expect(scanRecords(buf.subarray(0, buf.length - 1))).toMatchObject({ count: 1, end: 13, problem: expect.stringMatching(/runs past the end/) });
    const flipped = Buffer.from(buf);
    flipped[13 + 8]! ^= 1;
    expect(scanRecords(flipped)).toMatchObject({ count: 1, end: 13, problem: 'record CRC mismatch' });
  });

  it('finds a valid record after damage, wherever it starts', () => {
    const buf = encodeRecords([Buffer.from('one'), Buffer.from('two'), Buffer.from('three')]);
    const damaged = Buffer.from(buf);
    damaged[0] = 0xff; // the first length now runs past the end
    expect(scanRecords(damaged).end).toBe(0);
    expect(validRecordAfter(damaged, 0)).toBe(11);
    expect(validRecordAfter(buf, 22)).toBeUndefined();
  });
});

describe('names', () => {
  it('encodes the first sequence number and the snapshot id, sortably', () => {
    expect(segmentName(1)).toBe('0000000000000001.wal');
    expect(parseSegmentName(segmentName(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseSegmentName('1.wal')).toBeUndefined();
    expect(parseSnapshotName(snapshotName(42))).toBe(42);
    expect(parseSnapshotName(`${snapshotName(42)}.tmp`)).toBeUndefined();
  });
});

describe('metadata slot', () => {
  it('round-trips and rejects any damage', () => {
    const buf = encodeMeta(7, Buffer.from('term=3'));
    expect(decodeMeta(buf)).toEqual({ version: 7, payload: Buffer.from('term=3') });
    for (let i = 0; i < buf.length; i++) {
      const bad = Buffer.from(buf);
      bad[i]! ^= 0x10;
      expect(decodeMeta(bad)).toBeUndefined();
      expect(decodeMeta(buf.subarray(0, i))).toBeUndefined();
    }
    expect(decodeMeta(Buffer.alloc(32))).toBeUndefined();
  });
});

describe('snapshot file', () => {
  it('round-trips the header and names what is wrong', () => {
    const payload = Buffer.from('state');
    const meta = Buffer.from('{"term":2}');
    const header = encodeSnapshotHeader(9, payload.length, meta, crc32c(meta, crc32c(payload)));
    const size = header.length + payload.length + meta.length;
    const d = decodeSnapshotHeader(header, 9, size);
    expect(d).toEqual({ payloadLength: 5, metaLength: 10, crc: header.readUInt32LE(20) });
    expect(snapshotHeaderCrc(header, crc32c(meta, crc32c(payload)))).toBe(header.readUInt32LE(20));
    expect(snapshotHeaderCrc(header, crc32c(meta, crc32c(Buffer.from('staTe'))))).not.toBe(header.readUInt32LE(20));
    expect(decodeSnapshotHeader(header, 8, size)).toEqual({ problem: expect.stringMatching(/does not match the file name/) });
    expect(decodeSnapshotHeader(header, 9, size - 1)).toEqual({ problem: expect.stringMatching(/file holds/) });
    expect(decodeSnapshotHeader(header.subarray(0, 10), 9, 10)).toEqual({ problem: expect.stringMatching(/too short/) });
  });
});
