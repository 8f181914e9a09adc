import { assertDnsSubdomain, parseIpv4 } from '@strata/domain';
import type {
  EntryChange,
  EntryDiff,
  EventRef,
  ForwardingSnapshot,
  PolicyVerdict,
  Tenure,
  TraceResult,
} from '@strata/forwarding';
import { commandSubject } from '../subjects';
import type { WireEvent } from '../log/wire';
import { commandSpec } from './protocol';
import { integer, object, oneOf, optional, refine, string, type Infer } from './schema';

/**
 * Time travel over the log, answered by the analytics service (services/analytics/src/history,
 * docs/history.md): `strata.analytics.history.<verb>`.
 *
 * A moment (`at`, `from`, `to`) is a log position (decimal digits) or an RFC 3339 UTC time; a
 * time means the last event recorded at or before it. Every answer names the moment it
 * resolved to. Error codes: `InvalidTimestamp`, `InvalidIp`, `InvalidName`, `InvalidArgument`
 * (a moment that is neither, a window that ends before it starts, a position past the head, a
 * page cursor past the end), `BeforeFirstEvent` (a moment before the log's first event, or an
 * empty log), `UnknownNode` (a node never registered up to that moment), `NotFound` (no such
 * endpoint or entry).
 */

const subject = (verb: string) => commandSubject('analytics', 'history', verb);
const node = refine(string({ maxLength: 253 }), (value) => assertDnsSubdomain(value, 'node name'));
/** A position or a time; parsed by the service, which knows the log. */
const moment = string({ minLength: 1, maxLength: 64 });
const ip = (what: string) =>
  refine(string({ maxLength: 15 }), (value) => {
    parseIpv4(value, what);
    return value;
  });
/** An endpoint by IPv4 address or by uid. */
const endpoint = string({ minLength: 1, maxLength: 253 });
const protocol = oneOf(['TCP', 'UDP', 'SCTP', 'ICMP'] as const);

const replay = object({
  node,
  at: moment,
  /** Entries already received (the previous page's `next`); absent for the first page. */
  after: optional(integer({ min: 0 })),
});
const diff = object({
  node,
  from: moment,
  to: moment,
  /** Changes already received (the previous page's `next`); absent for the first page. */
  after: optional(integer({ min: 0 })),
});
const explainRoute = object({ node, ip: ip('route address'), at: moment });
const explainVerdict = object({
  source: endpoint,
  destination: endpoint,
  protocol,
  port: integer({ min: 0, max: 65_535 }),
  at: moment,
});
const trace = object({
  from: endpoint,
  to: endpoint,
  protocol,
  port: integer({ min: 0, max: 65_535 }),
  at: optional(moment),
});
const holders = object({
  ip: optional(ip('address')),
  identity: optional(integer({ min: 0, max: 0xffffffff })),
});
const exportPage = object({
  from: moment,
  to: moment,
  /** Continue after this position (the previous page's `next`); absent for the first page. */
  after: optional(integer({ min: 0 })),
  /** The snapshot chunk to send (the previous page's `nextChunk`); never with `after`. */
  chunk: optional(integer({ min: 0 })),
});

export type ReplayRequest = Infer<typeof replay>;
export type DiffRequest = Infer<typeof diff>;
export type ExplainRouteRequest = Infer<typeof explainRoute>;
export type ExplainVerdictRequest = Infer<typeof explainVerdict>;
export type TraceRequest = Infer<typeof trace>;
export type HoldersRequest = Infer<typeof holders>;
export type ExportRequest = Infer<typeof exportPage>;

/** What a moment resolved to: the last event at or before it. */
export interface Moment {
  readonly position: number;
  readonly recordedAt: string;
}

/** Every table of a node's state as sorted [key, entry] pairs (tablesToJson's shape). */
export type TablesView = Readonly<Record<string, ReadonlyArray<readonly [string, object]>>>;

export interface ReplayResult {
  readonly node: string;
  readonly at: Moment;
  /** The canonical digest (libs/forwarding digest), as an agent reports its applied tables. */
  readonly digest: string;
  readonly tables: TablesView;
  /** Whether a snapshot served, and how many events were folded after it. */
  readonly snapshotPosition: number;
  readonly eventsFolded: number;
}

/**
 * One page of a replay: every table, each holding only this page's slice of its entries (in
 * TABLE_NAMES order, then key order, at most about REPLAY_PAGE_BYTES of them). Ask again with
 * `at` set to this page's resolved position and `after: next` until `next` is null.
 */
export interface ReplayPage extends ReplayResult {
  readonly next: number | null;
}

/** About the most table-entry JSON one replay page carries (NATS's default max_payload is 1 MiB). */
export const REPLAY_PAGE_BYTES = 512 * 1024;

/**
 * A whole replay, page by page: every page asked at the first page's resolved position, so a
 * log that grows meanwhile does not mix moments. `ask` sends one request (HISTORY.replay).
 */
export async function readReplay(
  ask: (request: ReplayRequest) => Promise<ReplayPage>,
  request: ReplayRequest,
): Promise<ReplayResult> {
  const first = await ask({ node: request.node, at: request.at });
  const tables: Record<string, Array<readonly [string, object]>> = {};
  for (const [name, rows] of Object.entries(first.tables)) tables[name] = [...rows];
  let page = first;
  let received = Object.values(first.tables).reduce((sum, rows) => sum + rows.length, 0);
  while (page.next !== null) {
    if (page.next !== received) {
      throw new Error(`replay page cursor ${page.next} does not follow ${received} entries`);
    }
    page = await ask({ node: request.node, at: String(first.at.position), after: page.next });
    for (const [name, rows] of Object.entries(page.tables)) {
      (tables[name] ??= []).push(...rows);
      received += rows.length;
    }
  }
  const { next: _next, ...result } = first;
  return { ...result, tables };
}

export interface DiffResult {
  readonly node: string;
  readonly from: Moment;
  readonly to: Moment;
  readonly digestFrom: string;
  readonly digestTo: string;
  readonly changes: readonly EntryDiff[];
}

/** One page of a diff: this page's changes; ask again with `after: next` until it is null. */
export interface DiffPage extends DiffResult {
  readonly next: number | null;
}

/** A whole diff, page by page, every page asked at the first page's resolved positions. */
export async function readDiff(
  ask: (request: DiffRequest) => Promise<DiffPage>,
  request: DiffRequest,
): Promise<DiffResult> {
  const first = await ask({ node: request.node, from: request.from, to: request.to });
  const changes = [...first.changes];
  let page = first;
  while (page.next !== null) {
    page = await ask({
      node: request.node,
      from: String(first.from.position),
      to: String(first.to.position),
      after: page.next,
    });
    changes.push(...page.changes);
  }
  const { next: _next, ...result } = first;
  return { ...result, changes };
}

export interface ExplainRouteResult {
  readonly node: string;
  readonly ip: string;
  readonly at: Moment;
  /** The entries keyed by this address at that moment, per table. */
  readonly entries: ReadonlyArray<{ readonly table: string; readonly entry: object }>;
  /** Every event up to the moment that changed an entry for this address on this node. */
  readonly history: readonly EntryChange[];
  /**
   * The events behind the current entries' facts: the endpoint's stream, its segment's, and
   * (for a remote entry) its node's registration and liveness (heartbeats left out).
   */
  readonly sources: readonly EventRef[];
}

export interface ExplainVerdictResult {
  readonly at: Moment;
  readonly source: string;
  readonly destination: string;
  readonly protocol: string;
  readonly port: number;
  readonly evaluation: PolicyVerdict;
  /** The events that wrote the deciding policy revision of each direction (null: no policy). */
  readonly egressPolicyEvent: EventRef | null;
  readonly ingressPolicyEvent: EventRef | null;
  /** The events that gave each endpoint its identity (its last EndpointCreated/LabelsUpdated). */
  readonly sourceIdentityEvent: EventRef | null;
  readonly destinationIdentityEvent: EventRef | null;
}

export interface TraceReply extends TraceResult {
  readonly at: Moment;
  readonly source: string;
  readonly destination: string;
  readonly protocol: string;
  readonly port: number;
}

export interface HoldersResult {
  readonly query: { readonly ip?: string; readonly identity?: number };
  readonly tenures: readonly Tenure[];
}

export interface ExportPage {
  readonly from: Moment;
  readonly to: Moment;
  /**
   * A piece of the JSON text of the fold snapshot at `from` (a ForwardingSnapshot, good for
   * any node): the first pages carry it in order, the rest null. Join the pieces, then parse.
   */
  readonly snapshotChunk: string | null;
  /** Pass as `chunk` for the snapshot's next piece; null once the snapshot is complete. */
  readonly nextChunk: number | null;
  /** Events after `from` up to `to`, in log order. */
  readonly events: readonly WireEvent[];
  /** Pass as `after` for the next page; null on the last page. */
  readonly next: number | null;
  /** On the last page: every registered node's digest at `to`, to check a sandbox against. */
  readonly digests: ReadonlyArray<{ readonly node: string; readonly digest: string }> | null;
}

/** Most events one export page carries. */
export const MAX_EXPORT_PAGE_EVENTS = 2_000;

/** Most characters of snapshot JSON one export page carries (escaped, still under 1 MiB). */
export const EXPORT_SNAPSHOT_CHUNK = 256 * 1024;

/**
 * The snapshot at the start of an export window, piece by piece, and the first events page
 * after it. Later pages are asked at the resolved positions (`window` of the answer).
 */
export async function readExportSnapshot(
  ask: (request: ExportRequest) => Promise<ExportPage>,
  request: ExportRequest,
): Promise<{ snapshot: ForwardingSnapshot; window: ExportRequest; page: ExportPage }> {
  let page = await ask({ from: request.from, to: request.to });
  const window = { from: String(page.from.position), to: String(page.to.position) };
  const pieces: string[] = [];
  for (;;) {
    pieces.push(page.snapshotChunk ?? '');
    if (page.nextChunk === null) break;
    page = await ask({ ...window, chunk: page.nextChunk });
  }
  return { snapshot: JSON.parse(pieces.join('')) as ForwardingSnapshot, window, page };
}

export const HISTORY = {
  replay: commandSpec<ReplayRequest, ReplayPage>(subject('replay'), replay),
  diff: commandSpec<DiffRequest, DiffPage>(subject('diff'), diff),
  explainRoute: commandSpec<ExplainRouteRequest, ExplainRouteResult>(
    subject('explain-route'),
    explainRoute,
  ),
  explainVerdict: commandSpec<ExplainVerdictRequest, ExplainVerdictResult>(
    subject('explain-verdict'),
    explainVerdict,
  ),
  trace: commandSpec<TraceRequest, TraceReply>(subject('trace'), trace),
  holders: commandSpec<HoldersRequest, HoldersResult>(subject('holders'), holders),
  export: commandSpec<ExportRequest, ExportPage>(subject('export'), exportPage),
} as const;
