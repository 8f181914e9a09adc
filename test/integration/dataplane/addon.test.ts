import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  BpfError,
  RingBuffer,
  bpffsMounted,
  ifindexOf,
  loadObject,
  openPinnedMap,
  type BpfMap,
  type BpfObject,
} from '@strata/dataplane';

// The strata_bpf addon against the real kernel: a fixture object (dataplane/addon/test/
// fixture.bpf.c) compiled with clang, BPF_PROG_RUN, bpffs pins, and XDP/TC attachments on a veth
// pair inside a network namespace of this test's own (stx-<pid>-<random>, deleted by name).

jest.setTimeout(60_000);

const FIXTURE_SOURCE = join(__dirname, '../../../dataplane/addon/test/fixture.bpf.c');
const NETNS = `stx-${process.pid}-${randomBytes(3).toString('hex')}`;
const NETNS_PATH = `/run/netns/${NETNS}`;
const PIN_ROOT = `/sys/fs/bpf/${NETNS}`;

// Mirrors of the fixture's constants.
const XDP_DROP = 1;
const XDP_PASS = 2;
const TC_ACT_OK = 0;
const COUNT_XDP = 0;
const COUNT_SINK = 2;
const COUNT_REFLECT = 3;
const FROM_XDP = 1;
const FROM_TC = 2;
const FROM_SINK = 3;

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync('/proc/sys/kernel/unprivileged_bpf_disabled')) return 'kernel has no bpf()';
  if (!bpffsMounted()) return 'bpffs is not mounted at /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf)';
  return undefined;
}

const reason = skipReason();
const suite = reason ? describe.skip : describe;
if (reason) console.warn(`strata_bpf addon tests skipped: ${reason}`);

let fixture: string;
let workDir: string;
const objects: BpfObject[] = [];

async function load(options?: Parameters<typeof loadObject>[1]): Promise<BpfObject> {
  const object = await loadObject(fixture, options);
  objects.push(object);
  return object;
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
}

function u64(value: bigint): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64LE(value);
  return buffer;
}

/** 64-byte Ethernet + IPv4 + UDP frame, 02:..:01 -> 02:..:02, 10.0.0.1 -> 10.0.0.2. */
function frame(): Buffer {
  const buffer = Buffer.alloc(64);
  Buffer.from('020000000002020000000001', 'hex').copy(buffer, 0);
  buffer.writeUInt16BE(0x0800, 12);
  buffer.writeUInt8(0x45, 14);
  buffer.writeUInt16BE(64 - 14, 16);
  buffer.writeUInt8(64, 22);
  buffer.writeUInt8(17, 23);
  Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]).copy(buffer, 26);
  buffer.writeUInt16BE(12345, 34);
  buffer.writeUInt16BE(9, 36);
  buffer.writeUInt16BE(64 - 34, 38);
  return buffer;
}

/** Sum of a per-CPU u64 counter. */
function counter(map: BpfMap, index: number): bigint {
  const value = map.lookup(u32(index));
  if (!value) throw new Error(`no counter ${index}`);
  let sum = 0n;
  for (let cpu = 0; cpu < map.possibleCpus; cpu++) sum += value.readBigUInt64LE(cpu * 8);
  return sum;
}

interface Event {
  origin: number;
  ifindex: number;
  len: number;
  magic: bigint;
}

function parseEvent(record: Buffer): Event {
  return {
    origin: record.readUInt32LE(0),
    ifindex: record.readUInt32LE(4),
    len: record.readUInt32LE(8),
    magic: record.readBigUInt64LE(16),
  };
}

function drain(map: BpfMap): Event[] {
  const events: Event[] = [];
  const ring = new RingBuffer(map, (record) => events.push(parseEvent(record)));
  ring.consume();
  ring.close();
  return events;
}

/** clang -target bpf into the test's temporary directory; returns the object's path. */
function compile(source: string): string {
  const arch = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
  const object = join(workDir, `${basename(source, '.c')}.o`);
  execFileSync('clang', [
    '-O2',
    '-g',
    '-target',
    'bpf',
    `-I/usr/include/${arch}-linux-gnu`,
    '-c',
    source,
    '-o',
    object,
  ]);
  return object;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

/** The XDP program on ifname in the test namespace: { mode: 1 native | 2 generic, id }. */
function xdpOn(ifname: string): { mode: number; id: number } | undefined {
  const [link] = JSON.parse(ip('-n', NETNS, '-j', 'link', 'show', 'dev', ifname)) as Array<{
    xdp?: { mode: number; prog?: { id: number } };
  }>;
  return link?.xdp?.prog ? { mode: link.xdp.mode, id: link.xdp.prog.id } : undefined;
}

/** Program ids of the bpf filters on ifname's clsact hook in the test namespace. */
function tcOn(ifname: string, direction: 'ingress' | 'egress'): number[] {
  const out = execFileSync('tc', ['-n', NETNS, '-j', 'filter', 'show', 'dev', ifname, direction], {
    encoding: 'utf8',
  });
  const filters = JSON.parse(out || '[]') as Array<{ options?: { prog?: { id: number } } }>;
  return filters.flatMap((filter) => (filter.options?.prog ? [filter.options.prog.id] : []));
}

async function expectBpfError(
  action: Promise<unknown> | (() => unknown),
  expected: { op?: string; code: string; message?: RegExp },
): Promise<void> {
  let caught: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(BpfError);
  const error = caught as BpfError;
  expect(error.code).toBe(expected.code);
  expect(error.errno).toBeGreaterThan(0);
  if (expected.op) expect(error.op).toBe(expected.op);
  if (expected.message) expect(error.message).toMatch(expected.message);
}

suite(`strata_bpf addon${reason ? ` (skipped: ${reason})` : ''}`, () => {
  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'strata-addon-'));
    fixture = compile(FIXTURE_SOURCE);
  });

  afterAll(() => {
    for (const object of objects) object.close();
    rmSync(PIN_ROOT, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  });

  describe('loading', () => {
    it('lists maps and programs, without libbpf internal maps', async () => {
      const object = await load();
      expect([...object.maps].sort()).toEqual(['counters', 'events', 'flows', 'shared']);
      expect([...object.programs].sort()).toEqual([
        'tc_main',
        'xdp_main',
        'xdp_reflect',
        'xdp_sink',
      ]);
      const flows = object.map('flows');
      expect(flows).toMatchObject({ type: 'hash', keySize: 4, valueSize: 16, maxEntries: 64 });
      expect(object.map('flows')).toBe(flows);
      expect(object.map('events').type).toBe('ringbuf');
      expect(object.program('xdp_main').type).toBe('xdp');
      expect(object.program('tc_main').type).toBe('sched_cls');
      await expectBpfError(() => object.map('nope'), { op: 'map', code: 'ENOENT' });
      await expectBpfError(() => object.program('nope'), { op: 'program', code: 'ENOENT' });
    });

    it('applies rodata before load, as a BPF_PROG_RUN shows', async () => {
      const plain = await load();
      const before = plain.program('xdp_main').testRun({ data: frame() });
      expect(before.retval).toBe(XDP_PASS);
      expect(before.data.subarray(6, 12)).toEqual(Buffer.alloc(6));

      const tag = Buffer.from('02aabbccddee', 'hex');
      const object = await load({
        rodata: { xdp_verdict: XDP_DROP, magic: 0x1122334455667788n, tag },
      });
      const after = object.program('xdp_main').testRun({ data: frame() });
      expect(after.retval).toBe(XDP_DROP);
      expect(after.data.subarray(6, 12)).toEqual(tag);
      expect(drain(object.map('events'))).toEqual([
        { origin: FROM_XDP, ifindex: 1, len: 64, magic: 0x1122334455667788n },
      ]);
    });

    it('rejects rodata of the wrong size, range or name, and missing files', async () => {
      await expectBpfError(load({ rodata: { tag: Buffer.alloc(4) } }), {
        op: 'rodata',
        code: 'EINVAL',
        message: /'tag' is 6 bytes, got 4/,
      });
      await expectBpfError(load({ rodata: { xdp_verdict: 2 ** 32 } }), {
        op: 'rodata',
        code: 'EINVAL',
        message: /does not fit in 4 bytes/,
      });
      await expectBpfError(load({ rodata: { xdp_verdict: -(2 ** 31) - 1 } }), {
        code: 'EINVAL',
      });
      await expectBpfError(load({ rodata: { magic: 1.5 } }), { op: 'rodata', code: 'EINVAL' });
      await expectBpfError(load({ rodata: { tag: 1 } }), {
        op: 'rodata',
        code: 'EINVAL',
        message: /not an integer width/,
      });
      await expectBpfError(load({ rodata: { nope: 1 } }), { op: 'rodata', code: 'ENOENT' });
      await expectBpfError(loadObject(join(workDir, 'missing.o')), { op: 'load', code: 'ENOENT' });
      const negative = await load({ rodata: { xdp_verdict: -1 } });
      expect(negative.program('xdp_main').testRun({ data: frame() }).retval).toBe(0xffffffff);
    });
    it('rejects a program the verifier refuses, with the verifier log', async () => {
      const source = join(workDir, 'unchecked.bpf.c');
      writeFileSync(
        source,
        [
          '#include <linux/bpf.h>',
          '#include <bpf/bpf_helpers.h>',
          '/* reads the packet without a bounds check */',
          'SEC("xdp") int unchecked(struct xdp_md *ctx) { return *(unsigned char *)(long)ctx->data; }',
          'char LICENSE[] SEC("license") = "GPL";',
        ].join('\n'),
      );
      const rejected = loadObject(compile(source));
      await expectBpfError(rejected, { op: 'load', code: 'EACCES', message: /unchecked\.bpf\.o/ });
      const error = (await rejected.catch((e: unknown) => e)) as BpfError;
      expect(error.log).toMatch(/invalid access to packet/);
    });
  });

  describe('maps', () => {
    let object: BpfObject;
    beforeAll(async () => {
      object = await load();
    });

    it('looks up, updates with flags, and deletes (a missing key is not an error)', async () => {
      const flows = object.map('flows');
      const value = Buffer.alloc(16, 7);
      expect(flows.lookup(u32(1))).toBeUndefined();
      flows.update(u32(1), value);
      expect(flows.lookup(u32(1))).toEqual(value);
      await expectBpfError(() => flows.update(u32(1), value, 'noexist'), {
        op: 'map_update',
        code: 'EEXIST',
      });
      await expectBpfError(() => flows.update(u32(2), value, 'exist'), {
        op: 'map_update',
        code: 'ENOENT',
      });
      flows.update(u32(1), Buffer.alloc(16, 9), 'exist');
      expect(flows.lookup(u32(1))).toEqual(Buffer.alloc(16, 9));
      flows.update(u32(2), value, 'noexist');
      expect(
        flows
          .keys()
          .map((key) => key.readUInt32LE())
          .sort(),
      ).toEqual([1, 2]);
      expect(flows.entries().map(([key, v]) => [key.readUInt32LE(), v[0]])).toEqual(
        expect.arrayContaining([
          [1, 9],
          [2, 7],
        ]),
      );
      expect(flows.delete(u32(1))).toBe(true);
      expect(flows.delete(u32(1))).toBe(false);
      expect(flows.delete(u32(2))).toBe(true);
      expect(flows.keys()).toEqual([]);
    });

    it('rejects wrong sizes and types with BpfError EINVAL', async () => {
      const flows = object.map('flows');
      await expectBpfError(() => flows.lookup(Buffer.alloc(3)), {
        op: 'map_lookup',
        code: 'EINVAL',
        message: /map 'flows': key is 3 bytes, expected 4/,
      });
      await expectBpfError(() => flows.update(u32(1), Buffer.alloc(15)), {
        op: 'map_update',
        code: 'EINVAL',
        message: /value is 15 bytes, expected 16/,
      });
      await expectBpfError(() => flows.delete('key' as unknown as Buffer), {
        op: 'map_delete',
        code: 'EINVAL',
        message: /key must be a Buffer/,
      });
      await expectBpfError(() => flows.update(u32(1), Buffer.alloc(16), 'always' as 'any'), {
        op: 'map_update',
        code: 'EINVAL',
      });
      await expectBpfError(() => flows.updateBatch([u32(1)], []), { code: 'EINVAL' });
      await expectBpfError(() => flows.updateBatch([u32(1)], [Buffer.alloc(8)]), {
        op: 'map_update_batch',
        code: 'EINVAL',
        message: /values\[0\] is 8 bytes, expected 16/,
      });
      await expectBpfError(() => flows.deleteBatch([u32(1), Buffer.alloc(2)]), {
        op: 'map_delete_batch',
        code: 'EINVAL',
        message: /keys\[1\] is 2 bytes/,
      });
    });

    it('updates and deletes in batches; missing keys in a delete batch are skipped', () => {
      const flows = object.map('flows');
      const keys = Array.from({ length: 20 }, (_, i) => u32(100 + i));
      const values = keys.map((_, i) => Buffer.alloc(16, i));
      flows.updateBatch([], []);
      flows.updateBatch(keys, values);
      expect(flows.entries()).toHaveLength(20);
      expect(flows.lookup(u32(105))).toEqual(Buffer.alloc(16, 5));

      const toDelete = [u32(100), u32(999), u32(101), u32(101), u32(998), ...keys.slice(2, 10)];
      expect(flows.deleteBatch(toDelete)).toBe(10);
      expect(flows.deleteBatch([u32(999)])).toBe(0);
      expect(flows.deleteBatch([])).toBe(0);
      expect(
        flows
          .keys()
          .map((key) => key.readUInt32LE())
          .sort((a, b) => a - b),
      ).toEqual(Array.from({ length: 10 }, (_, i) => 110 + i));
      expect(flows.deleteBatch(keys)).toBe(10);
    });

    it('returns per-CPU values as possibleCpus 8-byte slots', async () => {
      const counters = object.map('counters');
      expect(counters.type).toBe('percpu_array');
      expect(counters.possibleCpus).toBeGreaterThanOrEqual(1);
      expect(counters.valueBufferSize).toBe(8 * counters.possibleCpus);
      expect(counters.lookup(u32(COUNT_XDP))).toHaveLength(8 * counters.possibleCpus);
      expect(counters.keys()).toHaveLength(4); // array maps: every index

      const perCpu = Buffer.alloc(counters.valueBufferSize);
      for (let cpu = 0; cpu < counters.possibleCpus; cpu++) {
        perCpu.writeBigUInt64LE(BigInt(cpu + 1), cpu * 8);
      }
      counters.update(u32(COUNT_SINK), perCpu);
      expect(counters.lookup(u32(COUNT_SINK))).toEqual(perCpu);
      const cpus = BigInt(counters.possibleCpus);
      expect(counter(counters, COUNT_SINK)).toBe((cpus * (cpus + 1n)) / 2n);
      counters.updateBatch([u32(COUNT_SINK)], [Buffer.alloc(counters.valueBufferSize)]);
      expect(counter(counters, COUNT_SINK)).toBe(0n);
      expect(counters.lookup(u32(99))).toBeUndefined();

      const before = counter(counters, COUNT_XDP);
      object.program('xdp_main').testRun({ data: frame(), repeat: 3 });
      expect(counter(counters, COUNT_XDP)).toBe(before + 3n);
      await expectBpfError(() => counters.update(u32(0), u64(1n)), {
        op: 'map_update',
        code: 'EINVAL',
        message: /possible CPUs/,
      });
    });
  });

  describe('BPF_PROG_RUN', () => {
    let object: BpfObject;
    beforeAll(async () => {
      object = await load({ rodata: { tag: Buffer.from('02000000beef', 'hex') } });
    });

    it('runs XDP with an ingress ifindex and returns the output packet and context', () => {
      const result = object.program('xdp_main').testRun({ data: frame(), ifindex: 1 });
      expect(result.retval).toBe(XDP_PASS);
      expect(result.data).toHaveLength(64);
      expect(result.data.subarray(0, 6)).toEqual(frame().subarray(0, 6));
      expect(result.data.subarray(6, 12)).toEqual(Buffer.from('02000000beef', 'hex'));
      expect(result.data.subarray(12)).toEqual(frame().subarray(12));
      expect(result.ctxOut?.readUInt32LE(12)).toBe(1); // xdp_md.ingress_ifindex
      expect(result.durationNs).toBeGreaterThanOrEqual(0);
      const flow = object.map('flows').lookup(u32(1));
      expect(flow?.readBigUInt64LE(0)).toBe(1n);
      expect(flow?.readUInt32LE(8)).toBe(64);
    });

    it('runs TC and returns the rewritten packet', () => {
      drain(object.map('events'));
      const result = object.program('tc_main').testRun({ data: frame() });
      expect(result.retval).toBe(TC_ACT_OK);
      expect(result.data.subarray(0, 6)).toEqual(Buffer.from('02000000beef', 'hex'));
      expect(result.data.subarray(6)).toEqual(frame().subarray(6));
      expect(result.ctxOut).toBeUndefined();
      expect(drain(object.map('events'))).toEqual([
        { origin: FROM_TC, ifindex: 1, len: 64, magic: 0n },
      ]);
    });

    it('reports kernel rejections and a too small output buffer', async () => {
      const xdp = object.program('xdp_main');
      await expectBpfError(() => xdp.testRun({ data: Buffer.alloc(10) }), {
        op: 'prog_run',
        code: 'EINVAL',
      });
      await expectBpfError(() => xdp.testRun({ data: frame(), dataSizeOut: 10 }), {
        op: 'prog_run',
        code: 'ENOSPC',
        message: /dataSizeOut 10/,
      });
      await expectBpfError(() => xdp.testRun({ data: frame(), repeat: 0 }), {
        op: 'prog_run',
        code: 'EINVAL',
        message: /repeat/,
      });
      await expectBpfError(
        () => object.program('xdp_reflect').testRun({ data: frame(), ifindex: 0 }),
        {
          code: 'EINVAL',
        },
      );
    });
  });

  describe('ring buffer', () => {
    let object: BpfObject;
    beforeAll(async () => {
      object = await load({ rodata: { magic: 42n } });
    });

    it('delivers each record through poll and consume', async () => {
      const events: Event[] = [];
      const ring = new RingBuffer(object.map('events'), (record) => {
        events.push(parseEvent(record));
      });
      try {
        expect(await ring.poll(0)).toBe(0);
        const xdp = object.program('xdp_main');
        xdp.testRun({ data: frame(), repeat: 3 });
        expect(await ring.poll(1000)).toBe(3);
        expect(events).toEqual(
          Array.from({ length: 3 }, () => ({ origin: FROM_XDP, ifindex: 1, len: 64, magic: 42n })),
        );
        object.program('tc_main').testRun({ data: frame() });
        expect(ring.consume()).toBe(1);
        expect(events[3]?.origin).toBe(FROM_TC);
        expect(ring.consume()).toBe(0);
      } finally {
        ring.close();
      }
    });

    it('ends a poll in flight on close, refuses concurrent and closed use', async () => {
      const ring = new RingBuffer(object.map('events'), () => undefined);
      const waiting = ring.poll(30_000);
      await expectBpfError(ring.poll(0), { op: 'ringbuf_poll', code: 'EBUSY' });
      await expectBpfError(() => ring.consume(), { op: 'ringbuf_consume', code: 'EBUSY' });
      ring.close();
      expect(await waiting).toBe(0);
      ring.close();
      await expectBpfError(ring.poll(0), { code: 'EBADF' });
      await expectBpfError(() => new RingBuffer(object.map('flows'), () => undefined), {
        op: 'ringbuf',
        code: 'EINVAL',
        message: /not a ringbuf/,
      });
    });

    it('hands every record to the callback even when one call throws', async () => {
      const seen: number[] = [];
      const ring = new RingBuffer(object.map('events'), (record) => {
        seen.push(record.readUInt32LE(0));
        if (seen.length === 1) throw new Error('first record handler failed');
      });
      object.program('xdp_main').testRun({ data: frame(), repeat: 2 });
      expect(() => ring.consume()).toThrow('first record handler failed');
      expect(seen).toEqual([FROM_XDP, FROM_XDP]);
      ring.close();
    });
  });

  describe('pinning', () => {
    it('shares LIBBPF_PIN_BY_NAME maps across loads through pinRoot', async () => {
      const first = await load({ pinRoot: PIN_ROOT });
      first.map('shared').update(u32(7), u64(77n));
      expect(existsSync(join(PIN_ROOT, 'shared'))).toBe(true);
      first.close();

      const second = await load({ pinRoot: PIN_ROOT });
      expect(second.map('shared').lookup(u32(7))).toEqual(u64(77n));
      second.program('tc_main').testRun({ data: frame() });
      expect(second.map('shared').lookup(u32(0))).toEqual(u64(1n));
      expect(openPinnedMap(join(PIN_ROOT, 'shared')).lookup(u32(0))).toEqual(u64(1n));
    });

    it('pins and unpins maps and programs idempotently', async () => {
      const object = await load();
      const flows = object.map('flows');
      const path = join(PIN_ROOT, 'pins', 'flows');
      flows.pin(path);
      flows.pin(path);
      flows.update(u32(3), Buffer.alloc(16, 3));
      const pinned = openPinnedMap(path);
      expect(pinned).toMatchObject({ name: 'flows', type: 'hash', keySize: 4, id: flows.id });
      expect(pinned.lookup(u32(3))).toEqual(Buffer.alloc(16, 3));
      pinned.close();
      pinned.close();
      await expectBpfError(() => pinned.lookup(u32(3)), { code: 'EBADF' });

      await expectBpfError(() => object.map('counters').pin(path), {
        op: 'map_pin',
        code: 'EEXIST',
      });
      await expectBpfError(() => object.map('counters').unpin(path), {
        op: 'map_unpin',
        code: 'EINVAL',
      });
      flows.unpin(path);
      expect(existsSync(path)).toBe(false);
      flows.unpin(path);

      const programPath = join(PIN_ROOT, 'pins', 'xdp_main');
      object.program('xdp_main').pin(programPath);
      object.program('xdp_main').pin(programPath);
      expect(existsSync(programPath)).toBe(true);
      await expectBpfError(() => openPinnedMap(programPath), {
        op: 'map_open',
        code: 'EINVAL',
        message: /does not pin a map/,
      });
      await expectBpfError(() => openPinnedMap(join(PIN_ROOT, 'missing')), {
        op: 'map_open',
        code: 'ENOENT',
      });
    });
  });

  describe(`attachments in netns ${NETNS}`, () => {
    let object: BpfObject;
    beforeAll(async () => {
      ip('netns', 'add', NETNS);
      // A quiet link: without IPv6 the kernel sends nothing (no DAD, RS or MLD) that the sink
      // would count alongside the generated frames.
      ip('netns', 'exec', NETNS, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
      ip('netns', 'exec', NETNS, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1');
      ip('-n', NETNS, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0');
      for (const dev of ['lo', 'a0', 'b0']) ip('-n', NETNS, 'link', 'set', dev, 'up');
      object = await load({ rodata: { tag: Buffer.from('020000000bad', 'hex') } });
    });

    afterAll(() => {
      if (existsSync(NETNS_PATH)) ip('netns', 'del', NETNS);
    });

    it('resolves interface indexes inside the namespace', async () => {
      const a0 = ifindexOf('a0', { netns: NETNS_PATH });
      expect(a0).toBeGreaterThan(1);
      expect(ifindexOf('lo')).toBe(1);
      await expectBpfError(() => ifindexOf('a0-missing', { netns: NETNS_PATH }), {
        op: 'ifindex',
        code: 'ENODEV',
      });
      await expectBpfError(() => ifindexOf('a0', { netns: `${NETNS_PATH}-missing` }), {
        op: 'setns',
        code: 'ENOENT',
      });
    });

    it('attaches XDP idempotently, replaces another program or mode, detaches', async () => {
      const main = object.program('xdp_main');
      const sink = object.program('xdp_sink');
      const netns = NETNS_PATH;
      await main.attachXdp('a0', { netns });
      await main.attachXdp('a0', { netns });
      expect(xdpOn('a0')).toEqual({ mode: 1, id: main.id });
      await sink.attachXdp('a0', { netns });
      expect(xdpOn('a0')).toEqual({ mode: 1, id: sink.id });
      await main.attachXdp('a0', { netns, mode: 'generic' });
      expect(xdpOn('a0')).toEqual({ mode: 2, id: main.id });
      await main.detachXdp('a0', { netns });
      expect(xdpOn('a0')).toBeUndefined();
      await main.detachXdp('a0', { netns });
      await expectBpfError(main.attachXdp('nope0', { netns }), {
        op: 'xdp_attach',
        code: 'ENODEV',
      });
    });

    it('attaches TC idempotently, replaces another program, detaches', async () => {
      const tc = object.program('tc_main');
      const other = (await load()).program('tc_main');
      const netns = NETNS_PATH;
      await tc.detachTc('a0', 'ingress', { netns }); // no clsact qdisc yet
      await tc.attachTc('a0', 'ingress', { netns });
      await tc.attachTc('a0', 'ingress', { netns });
      expect(tcOn('a0', 'ingress')).toEqual([tc.id]);
      await other.attachTc('a0', 'ingress', { netns });
      expect(tcOn('a0', 'ingress')).toEqual([other.id]);
      await tc.attachTc('a0', 'ingress', { netns, priority: 2, handle: 5 });
      expect(tcOn('a0', 'ingress').sort()).toEqual([other.id, tc.id].sort());
      await tc.attachTc('a0', 'egress', { netns });
      expect(tcOn('a0', 'egress')).toEqual([tc.id]);

      await tc.detachTc('a0', 'ingress', { netns });
      expect(tcOn('a0', 'ingress')).toEqual([tc.id]);
      await tc.detachTc('a0', 'ingress', { netns, priority: 2, handle: 5 });
      await tc.detachTc('a0', 'egress', { netns });
      await tc.detachTc('a0', 'egress', { netns });
      expect(tcOn('a0', 'ingress')).toEqual([]);
      expect(tcOn('a0', 'egress')).toEqual([]);
      await expectBpfError(tc.attachTc('a0', 'sideways' as 'ingress', { netns }), {
        op: 'tc_attach',
        code: 'EINVAL',
      });
    });

    it('runs TC with the ifindex of a device in the namespace', () => {
      const a0 = ifindexOf('a0', { netns: NETNS_PATH });
      drain(object.map('events'));
      const result = object.program('tc_main').testRun({
        data: frame(),
        ifindex: a0,
        netns: NETNS_PATH,
      });
      expect(result.retval).toBe(TC_ACT_OK);
      expect(result.data.subarray(0, 6)).toEqual(Buffer.from('020000000bad', 'hex'));
      expect(result.ctxOut?.readUInt32LE(40)).toBe(a0); // __sk_buff.ifindex
      expect(drain(object.map('events'))).toEqual([
        { origin: FROM_TC, ifindex: a0, len: 64, magic: 0n },
      ]);
    });

    it('generates live frames: XDP_TX on a0 reaches the sink on b0', async () => {
      const netns = NETNS_PATH;
      const counters = object.map('counters');
      const sink = object.program('xdp_sink');
      await sink.attachXdp('b0', { netns });
      const a0 = ifindexOf('a0', { netns });
      const b0 = ifindexOf('b0', { netns });
      drain(object.map('events'));
      const sent = counter(counters, COUNT_REFLECT);
      const received = counter(counters, COUNT_SINK);

      const frames = 200; // below the veth ring (256), so none can be dropped
      const { durationNs } = await object
        .program('xdp_reflect')
        .runLiveFrames({ data: frame(), repeat: frames, ifindex: a0, batchSize: 32, netns });
      expect(durationNs).toBeGreaterThan(0);
      expect(counter(counters, COUNT_REFLECT) - sent).toBe(BigInt(frames));

      const arrivals: Event[] = [];
      const ring = new RingBuffer(object.map('events'), (record) => {
        arrivals.push(parseEvent(record));
      });
      try {
        // Each poll waits for the sink's next records; one that times out with none ends it.
        let more = true;
        while (arrivals.length < frames && more) more = (await ring.poll(5_000)) > 0;
      } finally {
        ring.close();
      }
      expect(arrivals).toHaveLength(frames);
      expect(arrivals.every((e) => e.origin === FROM_SINK && e.ifindex === b0)).toBe(true);
      expect(counter(counters, COUNT_SINK) - received).toBe(BigInt(frames));
      await sink.detachXdp('b0', { netns });

      await expectBpfError(
        object.program('tc_main').runLiveFrames({ data: frame(), repeat: 1, ifindex: a0 }),
        { op: 'prog_run_live', code: 'EINVAL', message: /xdp program/ },
      );
    });
  });

  describe('closing', () => {
    it('is idempotent and makes handles fail with EBADF, except ring buffers', async () => {
      const object = await load();
      const flows = object.map('flows');
      const program = object.program('xdp_main');
      const events: Buffer[] = [];
      const ring = new RingBuffer(object.map('events'), (record) => events.push(record));
      program.testRun({ data: frame() });
      object.close();
      object.close();
      await expectBpfError(() => flows.lookup(u32(1)), { op: 'map_lookup', code: 'EBADF' });
      await expectBpfError(() => program.testRun({ data: frame() }), { code: 'EBADF' });
      await expectBpfError(program.attachXdp('lo'), { op: 'xdp_attach', code: 'EBADF' });
      await expectBpfError(() => object.map('flows').keys(), { code: 'EBADF' });
      await expectBpfError(() => object.program('tc_main'), { op: 'program', code: 'EBADF' });
      expect(ring.consume()).toBe(1);
      ring.close();
    });

    it('reports bpffs mounts', () => {
      expect(bpffsMounted()).toBe(true);
      expect(bpffsMounted('/proc')).toBe(false);
      expect(bpffsMounted('/nonexistent')).toBe(false);
    });
  });
});
