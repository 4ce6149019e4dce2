import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy a test controls, to cut or slow one process's network path for real: `cut()` drops
 * every connection and refuses new ones until `heal()`; `delayMs` holds each chunk that long.
 * Listens on 127.0.0.1 only.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cutOff = false;
  /** Extra latency added to every chunk in both directions, in milliseconds. */
  delayMs = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host?: string; port: number }, listenPort = 0): Promise<TcpProxy> {
    const t = { host: target.host ?? '127.0.0.1', port: target.port };
    const accept: { to?: (client: Socket) => void } = {};
    const server = createServer((client) => accept.to?.(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    const proxy = new TcpProxy(server, typeof addr === 'object' && addr ? addr.port : listenPort, t);
    accept.to = (client) => proxy.accept(client);
    return proxy;
  }

  get isCut(): boolean {
    return this.cutOff;
  }

  cut(): void {
    this.cutOff = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.cutOff) {
      client.destroy();
      return;
    }
    const upstream = connect(this.target.port, this.target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    this.pipe(client, upstream);
    this.pipe(upstream, client);
  }

  private pipe(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.cutOff) return;
      if (this.delayMs > 0) setTimeout(() => to.writable && to.write(chunk), this.delayMs);
      else if (to.writable) to.write(chunk);
    });
  }
}
