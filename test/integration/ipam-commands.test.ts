import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { IPAM, type CommandReply, type CommandSpec } from '@strata/bus';
import { startIpamHarness, type IpamHarness } from '../support/ipam-harness';

// The IPAM service over a real nats-server and a real SQLite file: every command, every error
// path, and bad input of every kind — each answered with a typed reply while the service keeps
// serving.

let h: IpamHarness;

beforeAll(async () => {
  h = await startIpamHarness();
  await ok(IPAM.createPool, { poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/16' });
  await ok(IPAM.createPool, { poolId: 'vips', kind: 'vip', cidr: '10.96.0.0/24' });
}, 30_000);

afterAll(async () => {
  await h?.close();
});

async function ok<Request, Reply>(
  spec: CommandSpec<Request, Reply>,
  data: Request,
  commandId?: string,
): Promise<Reply> {
  const reply = await h.client.call(spec, data, { commandId });
  if (!reply.ok) {
    throw new Error(`${spec.subject} failed: ${reply.error.code}: ${reply.error.message}`);
  }
  return reply.data;
}

/** The error code of a call that must fail (with a non-empty message). */
async function code<Request, Reply>(spec: CommandSpec<Request, Reply>, data: Request) {
  return errorCode(await h.client.call(spec, data));
}

function errorCode(reply: unknown): string {
  const typed = reply as CommandReply<unknown>;
  if (typed.ok !== false) throw new Error(`expected an error reply, got ${JSON.stringify(reply)}`);
  expect(typed.error.message.length).toBeGreaterThan(0);
  return typed.error.code;
}

/** Sends raw bytes/text to a subject and returns the error code of the reply. */
async function rawCode(subject: string, payload: string | Uint8Array): Promise<string> {
  return errorCode(await h.client.raw(subject, payload));
}

const envelope = (data: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ commandId: randomUUID(), data, ...extra });

describe('pools', () => {
  it('creates a pool, idempotently, and reports its layout and reservations', async () => {
    const created = await ok(IPAM.createPool, {
      poolId: 'blue',
      kind: 'pod',
      cidr: '10.1.0.0/24',
      segmentId: 'seg-blue',
      reserved: [{ first: '10.1.0.1', last: '10.1.0.9' }],
    });
    expect(created).toEqual({
      poolId: 'blue',
      kind: 'pod',
      cidr: '10.1.0.0/24',
      segmentId: 'seg-blue',
      shardCount: 1,
      reserved: [
        { first: '10.1.0.0', last: '10.1.0.9' },
        { first: '10.1.0.255', last: '10.1.0.255' },
      ],
    });
    const again = await ok(IPAM.createPool, {
      poolId: 'blue',
      kind: 'pod',
      cidr: '10.1.0.0/24',
      segmentId: 'seg-blue',
      reserved: [{ first: '10.1.0.1', last: '10.1.0.9' }],
    });
    expect(again).toEqual(created);
    expect(await ok(IPAM.getPool, { poolId: 'blue' })).toEqual(created);
    const { pools } = await ok(IPAM.listPools, {});
    expect(pools.map((p) => p.poolId)).toEqual(expect.arrayContaining(['pods', 'vips', 'blue']));
  });

  it('rejects pools that clash or cannot exist, with typed errors', async () => {
    expect(await code(IPAM.createPool, { poolId: 'blue', kind: 'pod', cidr: '10.2.0.0/24' })).toBe(
      'AlreadyExists',
    );
    expect(await code(IPAM.createPool, { poolId: 'red', kind: 'pod', cidr: '10.1.0.128/25' })).toBe(
      'OverlappingCidr',
    );
    expect(await code(IPAM.createPool, { poolId: 'red', kind: 'pod', cidr: '10.3.0.1/24' })).toBe(
      'InvalidCidr',
    );
    expect(await code(IPAM.createPool, { poolId: 'red', kind: 'pod', cidr: '10.0.0.0/7' })).toBe(
      'InvalidCidr',
    );
    expect(
      await code(IPAM.createPool, {
        poolId: 'red',
        kind: 'pod',
        cidr: '10.3.0.0/24',
        shardCount: 300,
      }),
    ).toBe('InvalidArgument');
    expect(await code(IPAM.createPool, { poolId: 'a.b', kind: 'pod', cidr: '10.3.0.0/24' })).toBe(
      'InvalidId',
    );
    expect(await code(IPAM.getPool, { poolId: 'nope' })).toBe('NotFound');
    // A rejected pool claimed nothing: the CIDR is still free for a valid pool.
    await ok(IPAM.createPool, { poolId: 'red', kind: 'pod', cidr: '10.3.0.0/24' });
  });

  it('reserves ranges: never handed out afterwards; ranges outside the pool are rejected', async () => {
    await ok(IPAM.createPool, { poolId: 'tiny', kind: 'pod', cidr: '10.4.0.0/28', shardCount: 2 });
    const pool = await ok(IPAM.reserveRange, {
      poolId: 'tiny',
      first: '10.4.0.2',
      last: '10.4.0.12',
    });
    expect(pool.reserved).toEqual([
      { first: '10.4.0.0', last: '10.4.0.0' },
      { first: '10.4.0.2', last: '10.4.0.12' },
      { first: '10.4.0.15', last: '10.4.0.15' },
    ]);
    const addresses = [];
    for (const owner of ['a', 'b', 'c']) {
      addresses.push((await ok(IPAM.allocateAddress, { poolId: 'tiny', owner })).address);
    }
    expect(addresses.sort()).toEqual(['10.4.0.1', '10.4.0.13', '10.4.0.14']);
    expect(await code(IPAM.allocateAddress, { poolId: 'tiny', owner: 'd' })).toBe('PoolExhausted');
    expect(
      await code(IPAM.reserveRange, { poolId: 'tiny', first: '10.4.0.2', last: '10.4.1.0' }),
    ).toBe('InvalidIp');
    expect(
      await code(IPAM.reserveRange, { poolId: 'nope', first: '10.9.0.1', last: '10.9.0.2' }),
    ).toBe('NotFound');
  });

  it('deletes a pool only while no address is allocated in any shard, idempotently', async () => {
    await ok(IPAM.createPool, { poolId: 'gone', kind: 'pod', cidr: '10.6.0.0/24', shardCount: 4 });
    // One owner on its home shard, one named address in the last shard.
    await ok(IPAM.allocateAddress, { poolId: 'gone', owner: 'pod-a' });
    await ok(IPAM.allocateAddress, { poolId: 'gone', owner: 'pod-b', address: '10.6.0.200' });
    expect(await code(IPAM.deletePool, { poolId: 'gone' })).toBe('InvalidState');
    await ok(IPAM.releaseAddress, { poolId: 'gone', owner: 'pod-a' });
    expect(await code(IPAM.deletePool, { poolId: 'gone' })).toBe('InvalidState');
    await ok(IPAM.releaseAddress, { poolId: 'gone', owner: 'pod-b', address: '10.6.0.200' });

    expect(await ok(IPAM.deletePool, { poolId: 'gone' })).toEqual({ poolId: 'gone' });
    expect(await ok(IPAM.deletePool, { poolId: 'gone' })).toEqual({ poolId: 'gone' });
    expect(await code(IPAM.getPool, { poolId: 'gone' })).toBe('NotFound');
    const { pools } = await ok(IPAM.listPools, {});
    expect(pools.map((pool) => pool.poolId)).not.toContain('gone');
    expect(await code(IPAM.allocateAddress, { poolId: 'gone', owner: 'pod-c' })).toBe('NotFound');
    expect(
      await code(IPAM.reserveRange, { poolId: 'gone', first: '10.6.0.9', last: '10.6.0.9' }),
    ).toBe('NotFound');
    // The id is not reused; the CIDR claim was released, so another pool may take it.
    expect(await code(IPAM.createPool, { poolId: 'gone', kind: 'pod', cidr: '10.6.0.0/24' })).toBe(
      'AlreadyExists',
    );
    await ok(IPAM.createPool, { poolId: 'reborn', kind: 'pod', cidr: '10.6.0.0/24' });

    expect(await code(IPAM.deletePool, { poolId: 'nope' })).toBe('NotFound');
    expect(await code(IPAM.deletePool, { poolId: 'a/b' })).toBe('InvalidId');
  });
});

describe('addresses', () => {
  it('allocates by owner, idempotently: the same pod asking again gets the same address', async () => {
    const first = await ok(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-a' });
    expect(first.address).toMatch(/^10\.0\.\d+\.\d+$/);
    expect(await ok(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-a' })).toEqual(first);
    const other = await ok(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-b' });
    expect(other.address).not.toBe(first.address);
  });

  it('answers a retried command id with the original result', async () => {
    const commandId = randomUUID();
    const first = await ok(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-r' }, commandId);
    expect(await ok(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-r' }, commandId)).toEqual(
      first,
    );
  });

  it('refuses a command id replayed after its outcome was undone (DuplicateCommand)', async () => {
    const commandId = randomUUID();
    await ok(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-d' }, commandId);
    await ok(IPAM.releaseAddress, { poolId: 'pods', owner: 'pod-d' });
    const replay = await h.client.call(
      IPAM.allocateAddress,
      { poolId: 'pods', owner: 'pod-d' },
      { commandId },
    );
    expect(errorCode(replay)).toBe('DuplicateCommand');
  });

  it('allocates a named address, and refuses one that is taken or outside the pool', async () => {
    const named = await ok(IPAM.allocateAddress, {
      poolId: 'pods',
      owner: 'pod-n',
      address: '10.0.200.7',
    });
    expect(named.address).toBe('10.0.200.7');
    expect(
      await code(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-m', address: '10.0.200.7' }),
    ).toBe('AddressInUse');
    expect(
      await code(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-m', address: '10.0.0.0' }),
    ).toBe('AddressInUse');
    expect(
      await code(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-m', address: '10.9.0.1' }),
    ).toBe('InvalidIp');
    expect(
      await code(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-a', address: '10.0.200.8' }),
    ).toBe('AlreadyExists');
  });

  it('rejects bad owners, addresses, pools and pool kinds with typed errors', async () => {
    expect(await code(IPAM.allocateAddress, { poolId: 'pods', owner: 'bad owner' })).toBe(
      'InvalidId',
    );
    expect(await code(IPAM.allocateAddress, { poolId: 'pods', owner: 'x'.repeat(129) })).toBe(
      'InvalidId',
    );
    for (const address of ['10.0.0.256', '10.0.0', '010.0.0.1', '::1', '']) {
      expect(await code(IPAM.allocateAddress, { poolId: 'pods', owner: 'p', address })).toBe(
        'InvalidIp',
      );
    }
    expect(await code(IPAM.allocateAddress, { poolId: 'nope', owner: 'p' })).toBe('NotFound');
    expect(await code(IPAM.allocateAddress, { poolId: 'vips', owner: 'p' })).toBe(
      'InvalidArgument',
    );
  });

  it('spills a full shard to the next one, keeps every owner on its chain, then PoolExhausted', async () => {
    await ok(IPAM.createPool, { poolId: 'small', kind: 'pod', cidr: '10.5.0.0/27', shardCount: 4 });
    const owners = Array.from({ length: 30 }, (_, i) => `pod-${i}`);
    const held = new Map<string, string>();
    for (const owner of owners) {
      held.set(owner, (await ok(IPAM.allocateAddress, { poolId: 'small', owner })).address);
    }
    expect(new Set(held.values()).size).toBe(30);
    expect(await code(IPAM.allocateAddress, { poolId: 'small', owner: 'late' })).toBe(
      'PoolExhausted',
    );
    const shards = await Promise.all(
      [0, 1, 2, 3].map((s) => h.store.readStream(`poolshard-small.${s}`)),
    );
    expect(shards.flat().some((e) => e.type === 'AllocationSpilled')).toBe(true);
    // Release everyone (walking each chain), then everyone fits again, each exactly once. The
    // owner that found the pool full left spill markers behind: its release removes them.
    for (const owner of owners) {
      const released = await ok(IPAM.releaseAddress, { poolId: 'small', owner });
      expect(released.released).toBe(held.get(owner));
    }
    expect((await ok(IPAM.releaseAddress, { poolId: 'small', owner: 'late' })).released).toBeNull();
    const after = await Promise.all(
      [0, 1, 2, 3].map((s) => h.store.readStream(`poolshard-small.${s}`)),
    );
    const spills = after.flat().filter((e) => e.type === 'AllocationSpilled').length;
    const unspills = after.flat().filter((e) => e.type === 'SpillReleased').length;
    expect(unspills).toBe(spills);
    for (const owner of owners) {
      await ok(IPAM.allocateAddress, { poolId: 'small', owner });
    }
  });

  it('releases idempotently: the second release changes nothing and says so', async () => {
    const { address } = await ok(IPAM.allocateAddress, { poolId: 'pods', owner: 'pod-x' });
    expect(await ok(IPAM.releaseAddress, { poolId: 'pods', owner: 'pod-x' })).toEqual({
      poolId: 'pods',
      owner: 'pod-x',
      released: address,
    });
    expect(await ok(IPAM.releaseAddress, { poolId: 'pods', owner: 'pod-x' })).toEqual({
      poolId: 'pods',
      owner: 'pod-x',
      released: null,
    });
    const named = await ok(IPAM.releaseAddress, {
      poolId: 'pods',
      owner: 'pod-n',
      address: '10.0.200.7',
    });
    expect(named.released).toBe('10.0.200.7');
    expect(await code(IPAM.releaseAddress, { poolId: 'nope', owner: 'p' })).toBe('NotFound');
  });

  it('answers who held an address, and when', async () => {
    const before = Date.now();
    const { address } = await ok(IPAM.allocateAddress, { poolId: 'blue', owner: 'pod-h1' });
    await ok(IPAM.releaseAddress, { poolId: 'blue', owner: 'pod-h1' });
    // The lowest free address again: the next owner gets the same one.
    expect((await ok(IPAM.allocateAddress, { poolId: 'blue', owner: 'pod-h2' })).address).toBe(
      address,
    );
    const history = await ok(IPAM.addressHistory, { address });
    expect(history.address).toBe(address);
    expect(history.holders).toEqual([
      { poolId: 'blue', owner: 'pod-h1', from: expect.any(String), to: expect.any(String) },
      { poolId: 'blue', owner: 'pod-h2', from: expect.any(String), to: null },
    ]);
    const [h1, h2] = history.holders;
    expect(Date.parse(h1.from)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(h1.to!)).toBeGreaterThanOrEqual(Date.parse(h1.from));
    expect(Date.parse(h2.from)).toBeGreaterThanOrEqual(Date.parse(h1.to!));
    expect((await ok(IPAM.addressHistory, { address: '10.200.0.1' })).holders).toEqual([]);
    expect(await code(IPAM.addressHistory, { address: '10.0.0.999' })).toBe('InvalidIp');
  });
});

describe('service VIPs', () => {
  it('allocates a VIP per service, idempotently, a named one on request, and releases it', async () => {
    const vip = await ok(IPAM.allocateVip, { poolId: 'vips', serviceId: 'shop' });
    expect(vip.address).toMatch(/^10\.96\.0\.\d+$/);
    expect(await ok(IPAM.allocateVip, { poolId: 'vips', serviceId: 'shop' })).toEqual(vip);
    const named = await ok(IPAM.allocateVip, {
      poolId: 'vips',
      serviceId: 'dns',
      address: '10.96.0.10',
    });
    expect(named.address).toBe('10.96.0.10');
    expect(
      await code(IPAM.allocateVip, { poolId: 'vips', serviceId: 'other', address: '10.96.0.10' }),
    ).toBe('AddressInUse');
    expect(await code(IPAM.allocateVip, { poolId: 'pods', serviceId: 'shop' })).toBe(
      'InvalidArgument',
    );
    expect(await ok(IPAM.releaseVip, { poolId: 'vips', serviceId: 'shop' })).toEqual({
      poolId: 'vips',
      serviceId: 'shop',
      released: vip.address,
    });
    expect(
      (await ok(IPAM.releaseVip, { poolId: 'vips', serviceId: 'dns', address: '10.96.0.10' }))
        .released,
    ).toBe('10.96.0.10');
    expect(await code(IPAM.allocateVip, { poolId: 'nope', serviceId: 'shop' })).toBe('NotFound');
    expect(await code(IPAM.releaseVip, { poolId: 'nope', serviceId: 'shop' })).toBe('NotFound');
    expect(await code(IPAM.releaseVip, { poolId: 'pods', serviceId: 'shop' })).toBe(
      'InvalidArgument',
    );
    expect(
      await code(IPAM.allocateVip, { poolId: 'vips', serviceId: 'shop', address: '10.97.0.1' }),
    ).toBe('InvalidIp');
  });
});

describe('VNIs', () => {
  it('allocates segments VNIs from the default pool, idempotently, a named one on request', async () => {
    const a = await ok(IPAM.allocateVni, { segmentId: 'seg-a' });
    expect(a).toEqual({ poolId: 'default', segmentId: 'seg-a', vni: 1 });
    expect(await ok(IPAM.allocateVni, { segmentId: 'seg-a' })).toEqual(a);
    expect((await ok(IPAM.allocateVni, { segmentId: 'seg-b', vni: 5000 })).vni).toBe(5000);
    expect(await code(IPAM.allocateVni, { segmentId: 'seg-c', vni: 5000 })).toBe('DuplicateVni');
    expect(await code(IPAM.allocateVni, { segmentId: 'seg-c', vni: 0 })).toBe('InvalidVni');
    expect(await code(IPAM.allocateVni, { segmentId: 'seg-c', vni: 16_777_216 })).toBe(
      'InvalidVni',
    );
    expect(await ok(IPAM.releaseVni, { segmentId: 'seg-a' })).toEqual({
      poolId: 'default',
      segmentId: 'seg-a',
      released: 1,
    });
    expect((await ok(IPAM.releaseVni, { segmentId: 'seg-a' })).released).toBeNull();
  });

  it('creates VNI pools and reports PoolExhausted and NotFound', async () => {
    expect(await ok(IPAM.createVniPool, { poolId: 'fed', first: 100, last: 101 })).toEqual({
      poolId: 'fed',
      first: 100,
      last: 101,
    });
    expect(await code(IPAM.createVniPool, { poolId: 'fed', first: 100, last: 200 })).toBe(
      'AlreadyExists',
    );
    expect(await code(IPAM.createVniPool, { poolId: 'bad', first: 10, last: 5 })).toBe(
      'InvalidVni',
    );
    await ok(IPAM.allocateVni, { poolId: 'fed', segmentId: 's1' });
    await ok(IPAM.allocateVni, { poolId: 'fed', segmentId: 's2' });
    expect(await code(IPAM.allocateVni, { poolId: 'fed', segmentId: 's3' })).toBe('PoolExhausted');
    expect(await code(IPAM.allocateVni, { poolId: 'nope', segmentId: 's1' })).toBe('NotFound');
    expect(await code(IPAM.releaseVni, { poolId: 'nope', segmentId: 's1' })).toBe('NotFound');
  });
});

describe('bad requests get a typed error, and the service keeps serving', () => {
  const subject = IPAM.allocateAddress.subject;
  const good = { poolId: 'pods', owner: 'pod-ok' };

  it.each([
    ['not JSON', 'nope', 'MalformedPayload'],
    ['an empty body', '', 'MalformedPayload'],
    ['truncated JSON', '{"commandId": "c1", "data": {', 'MalformedPayload'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'MalformedPayload'],
    ['a JSON array', '[1, 2]', 'MalformedPayload'],
    ['JSON null', 'null', 'MalformedPayload'],
    ['a JSON string', '"hello"', 'MalformedPayload'],
    ['no command id', JSON.stringify({ data: good }), 'InvalidRequest'],
    [
      'a command id with spaces',
      JSON.stringify({ commandId: 'a b', data: good }),
      'InvalidRequest',
    ],
    [
      'a command id too long',
      JSON.stringify({ commandId: 'c'.repeat(129), data: good }),
      'InvalidRequest',
    ],
    ['no data', JSON.stringify({ commandId: 'c1' }), 'InvalidRequest'],
    ['data not an object', JSON.stringify({ commandId: 'c1', data: 'pods' }), 'InvalidRequest'],
    ['an unknown envelope field', envelope(good, { priority: 1 }), 'UnknownField'],
    ['an unknown data field', envelope({ ...good, node: 'n1' }), 'UnknownField'],
    [
      'a __proto__ field',
      `{"commandId":"c1","data":{"poolId":"pods","owner":"p","__proto__":{"x":1}}}`,
      'UnknownField',
    ],
    ['a missing field', envelope({ poolId: 'pods' }), 'InvalidRequest'],
    ['a number for a string', envelope({ poolId: 'pods', owner: 5 }), 'InvalidRequest'],
    ['null for a string', envelope({ poolId: 'pods', owner: null }), 'InvalidRequest'],
    [
      'an object for an address',
      envelope({ ...good, address: { ip: '10.0.0.1' } }),
      'InvalidRequest',
    ],
    ['a huge string', envelope({ poolId: 'pods', owner: 'p'.repeat(100_000) }), 'InvalidRequest'],
    [
      'deep nesting',
      `{"commandId":"c1","data":${'['.repeat(5000)}${']'.repeat(5000)}}`,
      'InvalidRequest',
    ],
    ['an invalid IP', envelope({ ...good, address: '300.1.1.1' }), 'InvalidIp'],
    ['an invalid name', envelope({ poolId: 'pods', owner: 'pod/1' }), 'InvalidId'],
  ])('%s', async (_what, payload, expected) => {
    expect(await rawCode(subject, payload)).toBe(expected);
    expect((await ok(IPAM.allocateAddress, good)).owner).toBe('pod-ok');
  });

  it('rejects bad input on every subject', async () => {
    for (const spec of Object.values(IPAM)) {
      expect(await rawCode(spec.subject, 'nope')).toBe('MalformedPayload');
      expect(await rawCode(spec.subject, envelope({ surprise: true }))).toBe('UnknownField');
    }
    expect(
      await code(IPAM.createPool, { poolId: 'x', kind: 'lan' as 'pod', cidr: '10.8.0.0/24' }),
    ).toBe('InvalidRequest');
    expect(
      await code(IPAM.createPool, {
        poolId: 'x',
        kind: 'pod',
        cidr: '10.8.0.0/24',
        shardCount: 1.5,
      }),
    ).toBe('InvalidRequest');
  });

  it('ignores a command published without a reply subject, and keeps serving', async () => {
    h.connection.publish(subject, Buffer.from(envelope({ poolId: 'pods', owner: 'pod-noreply' })));
    h.connection.publish(subject, Buffer.from('garbage'));
    await h.connection.flush();
    expect((await ok(IPAM.allocateAddress, good)).owner).toBe('pod-ok');
    const owners = [];
    for await (const event of h.store.readAll({ filter: { categories: ['poolshard'] } })) {
      owners.push((event.data as { owner?: string }).owner);
    }
    expect(owners).toContain('pod-ok');
    expect(owners).not.toContain('pod-noreply');
  });

  it('answers a burst of bad and good requests, every one', async () => {
    const replies = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        i % 3 === 0
          ? h.client.raw(subject, 'nope')
          : h.client.call(IPAM.allocateAddress, { poolId: 'pods', owner: `burst-${i}` }),
      ),
    );
    const codes = replies.map((r) => ((r as CommandReply<unknown>).ok ? 'ok' : errorCode(r)));
    expect(codes.filter((c) => c === 'ok')).toHaveLength(200);
    expect(codes.filter((c) => c === 'MalformedPayload')).toHaveLength(100);
  });
});
