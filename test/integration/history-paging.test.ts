import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import {
  CONFIG,
  HISTORY,
  readDiff,
  readExportSnapshot,
  readReplay,
  type DiffPage,
  type DiffRequest,
  type CommandClient,
  type ExportPage,
  type ExportRequest,
  type ReplayPage,
  type ReplayRequest,
} from '@strata/bus';
import { endpointStream } from '@strata/domain';
import { digest, ForwardingState, tablesToJson } from '@strata/forwarding';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runSandbox } from '../../services/cli/src/client/sandbox.command';
import {
  createPod,
  createSegment,
  startAgentHarness,
  type AgentHarness,
} from '../support/agent-harness';

// History answers larger than NATS's 1 MiB max_payload, all real: nats-server with its default
// max_payload, a SQLite log, the analytics service. 6,000 endpoints with long uids and labels
// are appended straight to the store (a copy of one real EndpointCreated each), so node-a's
// tables (several MB of JSON) and the fold snapshot must travel page by page.

jest.setTimeout(120_000);

const NODES = ['node-a', 'node-b'];
const ENDPOINTS = 6_000;
const NATS_MAX_PAYLOAD = 1024 * 1024;

let harness: AgentHarness;
let client: CommandClient;
/** The log's head once every endpoint is in. */
let big: number;
/** The log's head before the bulk endpoints. */
let small: number;

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('expected the request to fail');
}

async function foldFromScratch(node: string, position: number): Promise<ForwardingState> {
  const state = new ForwardingState(node);
  for await (const event of harness.store.readAll({ untilPosition: position })) state.apply(event);
  return state;
}

/** Appends `count` endpoints on node-b, each a copy of the real `template` event's data. */
async function appendEndpoints(template: Record<string, unknown>, first: number, count: number) {
  for (let i = first; i < first + count; i += 1) {
    const uid = `pod-${String(i).padStart(5, '0')}-${'x'.repeat(180)}`;
    const ip = `10.2.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
    await harness.store.append(
      endpointStream(uid),
      [
        {
          id: randomUUID(),
          type: 'EndpointCreated',
          data: {
            ...template,
            uid,
            ip,
            mac: `0a:58:0a:02:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
          },
        },
      ],
      'no-stream',
    );
  }
}

beforeAll(async () => {
  harness = await startAgentHarness(NODES, { analytics: {} });
  client = harness.client;
  for (const [i, name] of NODES.entries()) {
    await client.execute(CONFIG.registerNode, {
      name,
      vtepAddress: `192.168.60.${i + 1}`,
      vtepMac: `02:00:00:00:60:0${i + 1}`,
    });
  }
  await createSegment(client, 'wide', '10.2.0.0/16');
  await createPod(client, 'seed', 'wide', 'node-b', '10.2.0.5');
  await client.execute(CONFIG.relabelEndpoint, {
    uid: 'seed',
    labels: { app: 'a'.repeat(60), team: 't'.repeat(60), tier: 'w'.repeat(60) },
  });
  const seed = await harness.store.readStream(endpointStream('seed'));
  const created = seed.find((event) => event.type === 'EndpointCreated')!;
  const relabelled = seed.find((event) => event.type === 'EndpointLabelsUpdated')!;
  const data = relabelled.data as { labels: object; identity: number };
  small = await harness.head();
  await appendEndpoints(
    { ...(created.data as object), labels: data.labels, identity: data.identity },
    0,
    ENDPOINTS,
  );
  big = await harness.head();
});

afterAll(async () => {
  await harness?.close();
});

describe('replay, page by page', () => {
  it('every page is under max_payload, and the pages join into the fold from scratch', async () => {
    const pages: ReplayPage[] = [];
    const ask = async (request: ReplayRequest) => {
      const page = await client.execute(HISTORY.replay, request);
      pages.push(page);
      return page;
    };
    const result = await readReplay(ask, { node: 'node-a', at: String(big) });
    const fold = await foldFromScratch('node-a', big);
    const whole = tablesToJson(fold.tables);
    expect(JSON.stringify(whole).length).toBeGreaterThan(NATS_MAX_PAYLOAD);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    for (const page of pages) {
      expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThan(NATS_MAX_PAYLOAD);
      expect(page.at.position).toBe(big);
      expect(page.digest).toBe(digest(fold));
    }
    expect(pages[pages.length - 1].next).toBeNull();
    expect(result.at.position).toBe(big);
    expect(result.digest).toBe(digest(fold));
    expect(result.tables).toEqual(JSON.parse(JSON.stringify(whole)));
    expect(result.tables.remote.length).toBeGreaterThan(ENDPOINTS);
    expect(Object.keys(result)).not.toContain('next');
  });

  it('asked at the first page’s position, later pages do not see events appended meanwhile', async () => {
    const at = await harness.head();
    let appended = false;
    const ask = async (request: ReplayRequest) => {
      const page = await client.execute(HISTORY.replay, request);
      if (!appended) {
        appended = true;
        await createPod(client, 'late', 'wide', 'node-b', '10.2.200.200');
      }
      return page;
    };
    // A time past the head: it resolves to the head now, and to the new head later on.
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const result = await readReplay(ask, { node: 'node-a', at: later });
    expect(await harness.head()).toBeGreaterThan(at);
    const fold = await foldFromScratch('node-a', at);
    expect(result.at.position).toBe(at);
    expect(result.digest).toBe(digest(fold));
    expect(result.tables).toEqual(JSON.parse(JSON.stringify(tablesToJson(fold.tables))));
    expect(new Map(result.tables.remote).has('10.2.200.200')).toBe(false);
  });

  it('rejects a cursor past the entries', async () => {
    const error = await failure(
      client.execute(HISTORY.replay, { node: 'node-a', at: String(big), after: 10_000_000 }),
    );
    expect(error).toMatchObject({ code: 'InvalidArgument' });
  });
});

describe('diff, page by page', () => {
  it('pages under max_payload join into every entry added between two folds from scratch', async () => {
    const pages: DiffPage[] = [];
    const ask = async (request: DiffRequest) => {
      const page = await client.execute(HISTORY.diff, request);
      pages.push(page);
      return page;
    };
    const result = await readDiff(ask, { node: 'node-a', from: String(small), to: String(big) });
    expect(pages.length).toBeGreaterThanOrEqual(2);
    for (const page of pages) {
      expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThan(NATS_MAX_PAYLOAD);
      expect([page.from.position, page.to.position]).toEqual([small, big]);
    }
    const before = await foldFromScratch('node-a', small);
    const after = await foldFromScratch('node-a', big);
    expect(result.digestFrom).toBe(digest(before));
    expect(result.digestTo).toBe(digest(after));
    type Rows = ReadonlyArray<readonly [string, object]>;
    const then = tablesToJson(before.tables) as unknown as Record<string, Rows>;
    const now = tablesToJson(after.tables) as unknown as Record<string, Rows>;
    const expected = Object.entries(now).flatMap(([table, rows]) => {
      const old = new Map(then[table]);
      return rows
        .filter(([key, entry]) => JSON.stringify(old.get(key)) !== JSON.stringify(entry))
        .map(([key, entry]) => ({
          table,
          key,
          after: JSON.parse(JSON.stringify(entry)) as object,
        }));
    });
    expect(expected.length).toBe(ENDPOINTS);
    expect(result.changes.every((change) => change.kind === 'added')).toBe(true);
    expect(
      result.changes.map(({ table, key, after: entry }) => ({ table, key, after: entry })),
    ).toEqual(expected);
    expect(result.changes.every((change) => change.causes.length === 1)).toBe(true);
  });

  it('rejects a cursor past the changes', async () => {
    const error = await failure(
      client.execute(HISTORY.diff, {
        node: 'node-a',
        from: String(small),
        to: String(big),
        after: 1e7,
      }),
    );
    expect(error).toMatchObject({ code: 'InvalidArgument' });
  });
});

describe('export, the snapshot in chunks', () => {
  it('reassembles a multi-chunk snapshot that a sandbox replays to every node’s digest', async () => {
    await createPod(client, 'after-export-start', 'wide', 'node-a', '10.2.201.1');
    const to = await harness.head();
    const requests: ExportRequest[] = [];
    const ask = async (request: ExportRequest) => {
      requests.push(request);
      const page = await client.execute(HISTORY.export, request);
      expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThan(NATS_MAX_PAYLOAD);
      return page;
    };
    const first = await readExportSnapshot(ask, { from: String(big), to: String(to) });
    expect(requests.length).toBeGreaterThanOrEqual(3);
    expect(first.snapshot.position).toBe(big);
    expect(first.snapshot.endpoints.length).toBeGreaterThan(ENDPOINTS);
    const lines: unknown[] = [
      {
        format: 'strata-incident',
        version: 1,
        from: first.page.from,
        to: first.page.to,
        snapshot: first.snapshot,
      },
    ];
    let page: ExportPage = first.page;
    for (;;) {
      for (const event of page.events) lines.push({ event });
      if (page.next === null) break;
      page = await ask({ ...first.window, after: page.next });
    }
    lines.push({ digests: page.digests });
    const file = join(harness.dir, 'big.strata');
    await writeFile(file, lines.map((line) => JSON.stringify(line)).join('\n'));

    const result = await runSandbox(file, { output: 'json', node: 'node-a' });
    expect(result.position).toBe(to);
    expect(result.nodes.map((n) => [n.node, n.matches])).toEqual(NODES.map((n) => [n, true]));
    expect(result.nodes.find((n) => n.node === 'node-a')!.digest).toBe(
      digest(await foldFromScratch('node-a', to)),
    );
  });

  it.each([
    ['a chunk past the snapshot', { chunk: 1_000 }],
    ['a chunk and an after together', { chunk: 1, after: 1 }],
  ])('rejects %s', async (_name, cursor) => {
    const error = await failure(
      client.execute(HISTORY.export, { from: String(big), to: String(big), ...cursor }),
    );
    expect(error).toMatchObject({ code: 'InvalidArgument' });
  });
});
