import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server, type Socket } from 'node:net';
import { KurrentDbEventStore, StoreUnavailable } from '@strata/eventstore';

// No KurrentDB runs here, and none is needed: these are the two ways a missing server shows up,
// played by loopback peers. The client alone would wait forever on the second one.

describe('KurrentDB adapter without a server', () => {
  let peer: Server | undefined;
  const sockets = new Set<Socket>();

  afterEach(async () => {
    for (const socket of sockets) {
      socket.destroy();
    }
    sockets.clear();
    await new Promise<void>((resolve) =>
      peer === undefined ? resolve() : peer.close(() => resolve()),
    );
    peer = undefined;
  });

  /** Listens on a free loopback port; `onConnection` decides what the peer does. */
  async function listen(onConnection: (socket: Socket) => void): Promise<number> {
    peer = createServer(onConnection);
    await new Promise<void>((resolve) => peer?.listen(0, '127.0.0.1', resolve));
    const address = peer.address();
    if (address === null || typeof address === 'string') {
      throw new Error('no TCP address');
    }
    return address.port;
  }

  function connect(port: number, timeoutMs: number): Promise<unknown> {
    return KurrentDbEventStore.connect({
      connectionString: `kurrentdb://127.0.0.1:${port}?tls=false`,
      timeoutMs,
    }).then(
      async (store) => {
        await store.close();
        throw new Error(`connected to a peer that is not KurrentDB on port ${port}`);
      },
      (error: unknown) => error,
    );
  }

  it('fails fast with StoreUnavailable when nothing listens on the port', async () => {
    const port = await listen(() => undefined);
    await new Promise<void>((resolve) => peer?.close(() => resolve()));
    peer = undefined;

    const error = await connect(port, 10_000);

    expect(error).toBeInstanceOf(StoreUnavailable);
    expect(error).toMatchObject({ code: 'StoreUnavailable', adapter: 'kurrentdb' });
    // Refused, not timed out: the answer came from the connection, not from the 10 s guard.
    expect((error as Error).message).toContain(`connect at kurrentdb://127.0.0.1:${port}`);
    expect((error as Error).message).not.toContain('no answer');
  });

  it('rejects with StoreUnavailable within the timeout when the peer accepts but never answers', async () => {
    const port = await listen((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });

    const error = await connect(port, 500);

    expect(error).toBeInstanceOf(StoreUnavailable);
    expect((error as Error).message).toContain(
      `connect: no answer from kurrentdb://127.0.0.1:${port} within 500 ms`,
    );
    // The client did reach the peer: this is the silent server, not a refused connection.
    expect(sockets.size).toBeGreaterThan(0);
  });
});
