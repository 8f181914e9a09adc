import {
  endpointDecider,
  endpointStream,
  identityPoolDecider,
  identityPoolStream,
  labelSetKey,
  type IdentityPoolState,
  type Labels,
} from '@strata/domain';
import { DeciderRunner, SqliteEventStore } from '@strata/eventstore';
import { IdentityReleaseReactor } from './identity-release.reactor';
import { identitySettings } from './identity-settings';

// The reactor over a real (in-memory) SQLite store and the real deciders, on a clock the test
// moves: the grace is 1 s of that clock, and each pass is run by the test (`releaseDue`), so
// nothing waits on wall time. The clock starts ahead of the store's, so every event's time is
// lifted to the reactor's start (see IdentityHolders).

const GRACE = 1_000;
const web: Labels = { app: 'web', 'strata.io/kind': 'pod', 'strata.io/segment': 's' };
const db: Labels = { app: 'db', 'strata.io/kind': 'pod', 'strata.io/segment': 's' };

let store: SqliteEventStore;
let runner: DeciderRunner;
let reactor: IdentityReleaseReactor;
let clock: number;
let commands = 0;

const meta = () => {
  const commandId = `test-${++commands}`;
  return { commandId, actor: 'test', correlationId: commandId };
};

/** An acquire as the acquire handler makes it: through `exclusive`. */
async function acquire(labels: Labels): Promise<number> {
  return (
    await reactor.exclusive(async () => {
      const { state } = await runner.run(
        identityPoolDecider,
        identityPoolStream(),
        { type: 'AcquireIdentity', data: { labels } },
        meta(),
      );
      return { identity: state.byKey.get(labelSetKey(labels))!.identity };
    })
  ).identity;
}

async function allocated(): Promise<number[]> {
  const { state } = await runner.load<IdentityPoolState, never>(
    identityPoolDecider,
    identityPoolStream(),
    { fresh: true },
  );
  return [...state.byIdentity.keys()].sort();
}

beforeEach(() => {
  store = new SqliteEventStore({ path: ':memory:', pollIntervalMs: 10 });
  runner = new DeciderRunner(store);
  clock = Date.now() + 3_600_000;
  reactor = new IdentityReleaseReactor(
    store,
    runner,
    identitySettings({ releaseGraceMs: GRACE, now: () => clock }),
  );
  reactor.onApplicationBootstrap();
});

afterEach(async () => {
  await reactor.onApplicationShutdown();
  await store.close();
});

describe('IdentityReleaseReactor', () => {
  it('releases an identity nobody holds once the grace is out, not before', async () => {
    expect(await acquire(web)).toBe(256);
    clock += GRACE - 1;
    await reactor.releaseDue();
    expect(await allocated()).toEqual([256]);
    clock += 1;
    await reactor.releaseDue();
    expect(await allocated()).toEqual([]);
    expect(await reactor.view(256)).toBeUndefined();
  });

  it('restarts the grace when the identity is acquired again inside it', async () => {
    expect(await acquire(web)).toBe(256);
    clock += 600;
    expect(await acquire(web)).toBe(256);
    clock += 600;
    await reactor.releaseDue();
    expect(await allocated()).toEqual([256]);
    clock += 400;
    await reactor.releaseDue();
    expect(await allocated()).toEqual([]);
  });

  it('keeps an identity while an endpoint holds it, and releases it a grace after the last one goes', async () => {
    const identity = await acquire(db);
    await runner.run(
      endpointDecider,
      endpointStream('db-1'),
      {
        type: 'CreateEndpoint',
        data: { uid: 'db-1', kind: 'external', segmentId: 's', ip: '10.0.0.9', identity },
      },
      meta(),
    );
    clock += 10 * GRACE;
    await reactor.releaseDue();
    expect(await reactor.view(identity)).toMatchObject({ holders: new Set(['db-1']) });
    expect(await allocated()).toEqual([identity]);

    await runner.run(
      endpointDecider,
      endpointStream('db-1'),
      { type: 'DeleteEndpoint', data: { uid: 'db-1' } },
      meta(),
    );
    await reactor.releaseDue();
    // Deleted "now" by the store's clock, which is behind the reactor's start: lifted to it.
    expect(await allocated()).toEqual([]);
    // The number is free again: the next label set gets it.
    expect(await acquire(web)).toBe(identity);
  });

  it('appends one release for an allocation, however many passes see it due', async () => {
    await acquire(web);
    clock += GRACE;
    await Promise.all([reactor.releaseDue(), reactor.releaseDue(), reactor.releaseDue()]);
    const events = await store.readStream(identityPoolStream());
    expect(events.map((e) => e.type)).toEqual(['IdentityAllocated', 'IdentityReleased']);
  });
});
