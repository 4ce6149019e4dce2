import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { coalesceWrites, requestHeaderBlock } from '../src/index.js';

let nats: NatsFixture;

beforeAll(async () => {
  nats = await startNats();
});

afterAll(async () => {
  await nats?.stop();
});

/** Counts the socket writes of a connection (its transport's `send`). */
function countWrites(nc: NatsConnection): { writes: number } {
  const transport = (nc as unknown as { protocol: { transport: { send(frame: Uint8Array): void } } }).protocol.transport;
  const counter = { writes: 0 };
  const send = transport.send.bind(transport);
  transport.send = (frame: Uint8Array) => {
    counter.writes++;
    send(frame);
  };
  return counter;
}

describe('coalesceWrites on a real NATS server', () => {
  it('writes what one event-loop turn published in one write, every message delivered in order', async () => {
    const subject = `${uniqueNamespace()}.coalesce`;
    const receiver = await connect({ servers: nats.url });
    const sender = await connect({ servers: nats.url });
    try {
      const got: string[] = [];
      receiver.subscribe(subject, { callback: (_err, msg) => void got.push(msg.string()) });
      await receiver.flush();
      expect(coalesceWrites(sender)).toBe(true);
      expect(coalesceWrites(sender)).toBe(true);
      const counter = countWrites(sender);
      // Published from separate callbacks of one turn (as requests parsed in one poll phase are).
      await new Promise<void>((resolve) => {
        let left = 50;
        for (let i = 0; i < 50; i++) {
          setImmediate(() => {
            sender.publish(subject, `m${i}`);
            if (--left === 0) resolve();
          });
        }
      });
      await sender.flush();
      await new Promise((r) => setTimeout(r, 50));
      expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
      // The 50 messages and the flush's PING: far fewer writes than messages.
      expect(counter.writes).toBeLessThanOrEqual(3);
    } finally {
      await sender.close();
      await receiver.close();
    }
  });

  it('still writes at once past the 32 KiB threshold, and carries headers written as bytes', async () => {
    const subject = `${uniqueNamespace()}.big`;
    const receiver = await connect({ servers: nats.url });
    const sender = await connect({ servers: nats.url });
    try {
      const sizes: number[] = [];
      const ids: (string | undefined)[] = [];
      receiver.subscribe(subject, { callback: (_err, msg) => void (sizes.push(msg.data.length), ids.push(msg.headers?.get('synod-request-id'))) });
      await receiver.flush();
      coalesceWrites(sender);
      const counter = countWrites(sender);
      for (let i = 0; i < 10; i++) sender.publish(subject, new Uint8Array(16 * 1024), { headers: requestHeaderBlock(`r${i}`, 1000) });
      // Past the threshold the buffer went out inside the loop, before the turn ended.
      expect(counter.writes).toBeGreaterThanOrEqual(4);
      await sender.flush();
      await new Promise((r) => setTimeout(r, 50));
      expect(sizes).toEqual(Array(10).fill(16 * 1024));
      expect(ids).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`));
    } finally {
      await sender.close();
      await receiver.close();
    }
  });
});
