import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CommandFailed,
  CONFIG,
  IDENTITY,
  type CreateEndpointRequest,
  type IdentityView,
} from '@strata/bus';
import { labelSetKey } from '@strata/domain';
import { StreamNotFound, type RecordedEvent } from '@strata/eventstore';
import { startConfigHarness, type ConfigHarness } from '../support/config-harness';

// Security identities over a real control plane: nats-server with every process its own NATS
// identity, a real SQLite file, and the IPAM, policy and config services. Config acquires each
// endpoint's identity from the policy service before it appends, so the endpoint's own events
// carry it. The policy service hands out at most three identities here (256-258) and releases
// an unheld one after GRACE_MS; the tests wait for the IdentityReleased event in the log, never
// for a time.

const GRACE_MS = 1_500;
const LAST_IDENTITY = 258;

jest.setTimeout(30_000);

let h: ConfigHarness;

beforeAll(async () => {
  h = await startConfigHarness(
    {},
    { identities: { releaseGraceMs: GRACE_MS, lastIdentity: LAST_IDENTITY } },
  );
  await h.client.execute(CONFIG.createSegment, {
    segmentId: 'blue',
    name: 'blue',
    subnets: ['10.20.0.0/24'],
  });
}, 30_000);

afterAll(async () => {
  await h?.close();
});

const pod = (uid: string, host: number, labels: Record<string, string>): CreateEndpointRequest => ({
  uid,
  kind: 'pod',
  segmentId: 'blue',
  node: 'node-1',
  ip: `10.20.0.${host}`,
  mac: `0a:58:0a:14:00:${host.toString(16).padStart(2, '0')}`,
  labels,
});

/** The identity an endpoint's last EndpointCreated / EndpointLabelsUpdated carries. */
async function identityOf(uid: string): Promise<number> {
  const events = await h.store.readStream(`endpoint-${uid}`);
  const last = events
    .filter((e) => e.type === 'EndpointCreated' || e.type === 'EndpointLabelsUpdated')
    .at(-1) as RecordedEvent<{ identity: number }>;
  return last.data.identity;
}

async function identityEvents(): Promise<RecordedEvent<{ identity: number; key: string }>[]> {
  return (await h.store.readStream('identitypool-default')) as RecordedEvent<{
    identity: number;
    key: string;
  }>[];
}

/** Resolves with the IdentityReleased event of `identity` once it is in the log. */
async function released(identity: number): Promise<RecordedEvent> {
  const subscription = h.store.subscribe({ filter: { eventTypes: ['IdentityReleased'] } });
  try {
    for await (const event of subscription) {
      if ((event.data as { identity: number }).identity === identity) return event;
    }
  } finally {
    await subscription.close();
  }
  throw new Error('the subscription ended');
}

async function failureCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CommandFailed);
    return (error as CommandFailed).code;
  }
  throw new Error('expected the call to fail');
}

describe('endpoint identities', () => {
  it('gives endpoints with equal security labels one identity (per-replica keys aside)', async () => {
    await h.client.execute(
      CONFIG.createEndpoint,
      pod('web-1', 11, { app: 'web', 'pod-template-hash': 'aaa' }),
    );
    await h.client.execute(
      CONFIG.createEndpoint,
      pod('web-2', 12, { app: 'web', 'pod-template-hash': 'bbb' }),
    );
    expect(await identityOf('web-1')).toBe(256);
    expect(await identityOf('web-2')).toBe(256);

    const view: IdentityView = await h.client.execute(IDENTITY.get, { identity: 256 });
    expect(view).toEqual({
      identity: 256,
      key: 'app=web,strata.io/kind=pod,strata.io/segment=blue',
      labels: { app: 'web', 'strata.io/kind': 'pod', 'strata.io/segment': 'blue' },
      holders: ['web-1', 'web-2'],
    });
    // Asking again (a retry, another endpoint) returns it and appends nothing.
    const before = (await identityEvents()).length;
    expect(
      await h.client.execute(IDENTITY.acquire, {
        labels: { app: 'web' },
        segmentId: 'blue',
        kind: 'pod',
      }),
    ).toEqual({ identity: 256, key: view.key });
    expect(await identityEvents()).toHaveLength(before);
  });

  it('moves a relabelled endpoint to the identity of its new labels', async () => {
    await h.client.execute(CONFIG.relabelEndpoint, { uid: 'web-2', labels: { app: 'api' } });
    expect(await identityOf('web-2')).toBe(257);
    expect(await h.client.execute(IDENTITY.get, { identity: 256 })).toMatchObject({
      holders: ['web-1'],
    });
    expect(await h.client.execute(IDENTITY.get, { identity: 257 })).toMatchObject({
      labels: { app: 'api', 'strata.io/kind': 'pod', 'strata.io/segment': 'blue' },
      holders: ['web-2'],
    });
  });

  it('rejects labels Strata derives itself, at create and at relabel', async () => {
    expect(
      await failureCode(
        h.client.execute(CONFIG.createEndpoint, pod('bad', 13, { 'strata.io/segment': 'red' })),
      ),
    ).toBe('InvalidLabels');
    expect(
      await failureCode(
        h.client.execute(CONFIG.relabelEndpoint, {
          uid: 'web-1',
          labels: { 'strata.io/kind': 'external' },
        }),
      ),
    ).toBe('InvalidLabels');
    await expect(h.store.readStream('endpoint-bad')).rejects.toBeInstanceOf(StreamNotFound);
  });

  it('fails an endpoint with IdentitiesExhausted when every identity is held, appending nothing', async () => {
    await h.client.execute(CONFIG.createEndpoint, pod('db-1', 14, { app: 'db' }));
    expect(await identityOf('db-1')).toBe(258);
    expect(
      await failureCode(
        h.client.execute(CONFIG.createEndpoint, pod('cache-1', 15, { app: 'cache' })),
      ),
    ).toBe('IdentitiesExhausted');
    await expect(h.store.readStream('endpoint-cache-1')).rejects.toBeInstanceOf(StreamNotFound);
    const { identities, inUse } = await h.client.execute(IDENTITY.list, {});
    expect(inUse).toBe(3);
    expect(identities.map((i) => i.identity)).toEqual([256, 257, 258]);
  });

  it('keeps an identity a new endpoint takes inside the grace, releases one nobody holds after it, and reuses its number', async () => {
    // db-1 goes and db-2 (same labels) comes before the grace is out: 258 stays.
    await h.client.execute(CONFIG.deleteEndpoint, { uid: 'db-1' });
    await h.client.execute(CONFIG.createEndpoint, pod('db-2', 16, { app: 'db' }));
    expect(await identityOf('db-2')).toBe(258);

    // web-2 goes: nobody holds 257 any more, and after the grace it is released.
    const releasedAt = released(257);
    const deletedAt = Date.now();
    await h.client.execute(CONFIG.deleteEndpoint, { uid: 'web-2' });
    const event = await releasedAt;
    expect(event.data).toEqual({
      identity: 257,
      key: labelSetKey({ app: 'api', 'strata.io/kind': 'pod', 'strata.io/segment': 'blue' }),
    });
    expect(event.recordedAt.getTime() - deletedAt).toBeGreaterThanOrEqual(GRACE_MS - 50);
    // The release of 257 came after 258's grace would have run out: 258 was never released.
    expect(
      (await identityEvents())
        .filter((e) => e.type === 'IdentityReleased')
        .map((e) => e.data.identity),
    ).toEqual([257]);
    expect(await h.client.execute(IDENTITY.get, { identity: 258 })).toMatchObject({
      holders: ['db-2'],
    });
    expect(await failureCode(h.client.execute(IDENTITY.get, { identity: 257 }))).toBe('NotFound');

    // The number goes to the next new label set.
    await h.client.execute(CONFIG.createEndpoint, pod('cache-1', 15, { app: 'cache' }));
    expect(await identityOf('cache-1')).toBe(257);
  });

  it('fails with a transport error and appends nothing while the policy service is down', async () => {
    await h.stopPolicy();
    try {
      const error = await h.client
        .execute(CONFIG.createEndpoint, pod('late-1', 17, { app: 'late' }))
        .then(
          () => undefined,
          (e: unknown) => e as CommandFailed,
        );
      expect(error).toBeInstanceOf(CommandFailed);
      expect(['NoResponders', 'Timeout']).toContain(error!.code);
      await expect(h.store.readStream('endpoint-late-1')).rejects.toBeInstanceOf(StreamNotFound);
    } finally {
      await h.startPolicy();
    }
    // Back up, the same request succeeds (and the restarted service keeps the allocations).
    await h.client.execute(CONFIG.createEndpoint, pod('late-1', 17, { app: 'web' }));
    expect(await identityOf('late-1')).toBe(256);
  });
});

describe('named ports', () => {
  it("stores an endpoint's named ports sorted by name in EndpointCreated, and rejects bad ones", async () => {
    await h.client.execute(CONFIG.createEndpoint, {
      ...pod('named-1', 20, { app: 'web' }),
      namedPorts: [
        { name: 'metrics', protocol: 'TCP', port: 9090 },
        { name: 'dns', protocol: 'UDP', port: 53 },
      ],
    });
    const [created] = await h.store.readStream('endpoint-named-1');
    expect(created.data).toMatchObject({
      identity: 256,
      namedPorts: [
        { name: 'dns', protocol: 'UDP', port: 53 },
        { name: 'metrics', protocol: 'TCP', port: 9090 },
      ],
    });
    const bad = (namedPorts: unknown) =>
      failureCode(
        h.client.execute(CONFIG.createEndpoint, {
          ...pod('named-2', 21, { app: 'web' }),
          namedPorts: namedPorts as never,
        }),
      );
    expect(await bad([{ name: 'Metrics', protocol: 'TCP', port: 9090 }])).toBe('InvalidName');
    expect(
      await bad([
        { name: 'web', protocol: 'TCP', port: 80 },
        { name: 'web', protocol: 'TCP', port: 81 },
      ]),
    ).toBe('InvalidName');
    expect(await bad([{ name: 'web', protocol: 'ICMP', port: 80 }])).toBe('InvalidRequest');
    expect(await bad([{ name: 'web', protocol: 'TCP', port: 0 }])).toBe('InvalidPort');
    expect(
      await bad(
        Array.from({ length: 65 }, (_, i) => ({ name: `p${i}`, protocol: 'TCP', port: 80 })),
      ),
    ).toBe('InvalidRequest');
    await expect(h.store.readStream('endpoint-named-2')).rejects.toBeInstanceOf(StreamNotFound);
  });
});
