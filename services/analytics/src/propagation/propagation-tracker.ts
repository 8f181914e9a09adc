import { Logger } from '@nestjs/common';
import {
  agentSubject,
  ALL_AGENT_APPLIED_SUBJECT,
  appliedReport,
  CommandRejected,
  decodeBody,
  foldInto,
  MalformedBody,
  type AppliedReport,
  type EventPropagation,
  type RecentPropagation,
} from '@strata/bus';
import { assertDnsSubdomain, nodeDecider, type NodeEvent, type NodeState } from '@strata/domain';
import { parseStreamName, type EventStore, type RecordedEvent } from '@strata/eventstore';
import type { NatsConnection, Subscription } from 'nats';
import { AppliedPoints } from './applied-points';
import { IdFilter } from './id-filter';
import { eventPropagation, recentPropagation, type NodeView } from './propagation-report';
import { DEFAULT_PROPAGATION_SETTINGS, type PropagationSettings } from './propagation-settings';
import { RecentEvents } from './recent-events';

export interface PropagationTrackerStats {
  /** Applied reports taken in, and their points kept. */
  reports: number;
  points: number;
  /** Points at or below their node's last position (applied earlier): nothing to keep. */
  stale: number;
  /**
   * Reports that are not JSON, fail the schema, or name another node than their subject's (or
   * not a node name at all).
   */
  malformed: number;
  /** Reports from a node beyond `maxNodes`. */
  refused: number;
}

export interface PropagationTrackerOptions {
  /** The service's own connection (its identity may subscribe to `strata.agent.>`). */
  readonly connection: NatsConnection;
  readonly store: EventStore;
  readonly settings?: PropagationSettings;
}

/**
 * When each node applied each event: the agents' applied reports, joined with the log.
 *
 * - Reports: every replica subscribes to `strata.agent.*.applied` (no queue group: each one
 *   answers from its own copy). Each report is checked against `appliedReport` and must name
 *   the node of its subject (an agent may only publish on its own); anything else is counted,
 *   logged and dropped. Points are kept per node (AppliedPoints); core NATS is at-most-once, so
 *   a lost report makes its events read as applied at the next report's time.
 * - The log: the last `window` events by id (RecentEvents) and the nodes' liveness (the node
 *   decider's own fold), caught up from the store before each query, so a query made after an
 *   append finds it (read-your-writes). The first catch-up reads the whole log once (started
 *   in the background at start): the ids that left the window go into a Bloom filter, so an
 *   unknown id (NotFound) and one older than the window (NotTracked) are told apart.
 * - Tracked events are those above `trackedFrom`: appended after the replica began listening
 *   (the head it read once subscribed: any node applies them later, so their reports reach
 *   it) and still in the window. Older ones are NotTracked: a node may have applied them
 *   before anyone listened.
 * - Nodes listed for an event: every registered node (ready or down) and every node that
 *   reports. A deregistered node's points are dropped, unless it reported past its
 *   deregistration (it registered again).
 *
 * `afterMs` is the agent's clock minus the store's: on one host the propagation time; across
 * hosts it includes their clock offset.
 */
export class PropagationTracker {
  readonly stats: PropagationTrackerStats = {
    reports: 0,
    points: 0,
    stale: 0,
    malformed: 0,
    refused: 0,
  };
  private readonly logger = new Logger('PropagationTracker');
  private readonly settings: PropagationSettings;
  private readonly points = new Map<string, AppliedPoints>();
  private readonly nodes = new Map<string, NodeState>();
  private readonly events: RecentEvents;
  private readonly waiters = new Set<() => void>();
  private subscription: Subscription | undefined;
  /** The log position folded. */
  private position = 0;
  private updating: Promise<void> = Promise.resolve();
  private startHead = 0;
  private closed = false;

  private constructor(private readonly options: PropagationTrackerOptions) {
    this.settings = options.settings ?? DEFAULT_PROPAGATION_SETTINGS;
    this.events = new RecentEvents(
      this.settings.window,
      new IdFilter(this.settings.evictedFilterBits),
    );
  }

  /**
   * Subscribes to the applied reports, then reads the head: events above it are tracked. The
   * first catch-up of the log starts in the background.
   */
  static async start(options: PropagationTrackerOptions): Promise<PropagationTracker> {
    const tracker = new PropagationTracker(options);
    tracker.subscription = options.connection.subscribe(ALL_AGENT_APPLIED_SUBJECT, {
      callback: (error, msg) => {
        if (error === null) tracker.take(msg.subject, msg.data);
        else tracker.logger.warn(`applied reports: ${error.message}`);
      },
    });
    // Once flushed, the server has the interest: every report published from now on reaches us.
    await options.connection.flush();
    tracker.startHead = await options.store.headPosition();
    tracker.catchUp().catch((error: unknown) => {
      tracker.logger.warn(`reading the log: ${(error as Error).message} (retried per query)`);
    });
    return tracker;
  }

  /** Events at or below this position are not answered for (NotTracked). */
  get trackedFrom(): number {
    let from = Math.max(this.startHead, this.events.evictedUpTo);
    for (const points of this.points.values()) from = Math.max(from, points.droppedUpTo);
    return from;
  }

  /**
   * Resolves once a report of `node` covering `position` has been taken in (what tests and
   * tools wait on instead of polling); rejects after `timeoutMs` or when the tracker closes.
   */
  waitApplied(node: string, position: number, timeoutMs = 30_000): Promise<void> {
    const reached = () => (this.points.get(node)?.lastPosition ?? 0) >= position;
    if (reached()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error === undefined) resolve();
        else reject(error);
      };
      const check = () => {
        if (this.closed) finish(new Error(`the tracker closed before ${node} applied ${position}`));
        else if (reached()) finish();
      };
      const timer = setTimeout(
        () =>
          finish(
            new Error(`no report of ${node} applying position ${position} in ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      this.waiters.add(check);
    });
  }

  /** Where event `eventId` stands on each node. NotFound, NotTracked. */
  async get(eventId: string): Promise<EventPropagation> {
    await this.catchUp();
    const event = this.events.get(eventId);
    const window = `last ${this.settings.window} events`;
    if (event === undefined) {
      if (this.events.mayHaveLeft(eventId)) {
        throw new CommandRejected(
          'NotTracked',
          `event ${eventId} is older than the ${window} this replica tracks (from position ${this.trackedFrom + 1}); its applied times are no longer kept`,
        );
      }
      throw new CommandRejected('NotFound', `no event ${eventId} in the log`);
    }
    if (event.position <= this.trackedFrom) {
      throw new CommandRejected(
        'NotTracked',
        event.position <= this.startHead
          ? `event ${eventId} (position ${event.position}) was appended before this analytics replica began following the agents' reports (from position ${this.startHead + 1}); its applied times were not seen`
          : `event ${eventId} (position ${event.position}) is older than the ${window} this replica tracks (from position ${this.trackedFrom + 1})`,
      );
    }
    return eventPropagation(event, this.nodeViews());
  }

  /** The last `last` tracked events, each summarised, and a summary over them all. */
  async recent(last: number): Promise<RecentPropagation> {
    await this.catchUp();
    return recentPropagation(this.events.last(last, this.trackedFrom), this.nodeViews());
  }

  /** Folds the log up to its current head (queries call it; calls run one after another). */
  catchUp(): Promise<void> {
    const next = this.updating.then(() => this.foldToHead());
    this.updating = next.catch(() => undefined);
    return next;
  }

  /** Stops taking reports; waits for a catch-up in progress. The connection is the caller's. */
  async close(): Promise<void> {
    this.closed = true;
    this.subscription?.unsubscribe();
    for (const waiter of [...this.waiters]) waiter();
    await this.updating;
  }

  private async foldToHead(): Promise<void> {
    const head = await this.options.store.headPosition();
    if (head <= this.position) return;
    for await (const event of this.options.store.readAll({
      after: this.position,
      untilPosition: head,
    })) {
      this.apply(event);
      this.position = event.position;
    }
    this.position = head;
  }

  private apply(event: RecordedEvent): void {
    this.events.add({
      id: event.id,
      type: event.type,
      stream: event.stream,
      position: event.position,
      recordedAtMs: event.recordedAt.getTime(),
    });
    const { category, id } = parseStreamName(event.stream);
    if (category !== 'node') return;
    foldInto(this.nodes, id, nodeDecider, event as unknown as NodeEvent);
    if (
      event.type === 'NodeDeregistered' &&
      (this.points.get(id)?.lastPosition ?? 0) <= event.position
    ) {
      this.points.delete(id);
    }
  }

  private nodeViews(): NodeView[] {
    const names = new Set(this.points.keys());
    for (const [name, state] of this.nodes) {
      if (state.status === 'ready' || state.status === 'down') names.add(name);
    }
    return [...names].sort().map((node) => {
      const status = this.nodes.get(node)?.status;
      return {
        node,
        liveness: status === 'ready' || status === 'down' ? status : 'unregistered',
        points: this.points.get(node),
      };
    });
  }

  // --- the reports ------------------------------------------------------------------------

  /** Takes one message off the subscription; never throws. */
  private take(subject: string, data: Uint8Array): void {
    let report: AppliedReport;
    try {
      const body = decodeBody(data);
      if (body instanceof MalformedBody) throw new Error(body.reason);
      report = appliedReport.parse(body, 'report');
      assertDnsSubdomain(report.node, 'node name');
      if (agentSubject(report.node, 'applied') !== subject) {
        throw new Error(`it names node ${JSON.stringify(report.node)}, not its subject's`);
      }
    } catch (error) {
      this.malformed(subject, (error as Error).message);
      return;
    }
    let points = this.points.get(report.node);
    if (points === undefined) {
      if (this.points.size >= this.settings.maxNodes) {
        if (this.stats.refused++ % 1_000 === 0) {
          this.logger.warn(
            `refusing applied reports of ${report.node}: already tracking ${this.settings.maxNodes} nodes (${this.stats.refused} refused)`,
          );
        }
        return;
      }
      points = new AppliedPoints(this.settings.window);
      this.points.set(report.node, points);
    }
    this.stats.reports++;
    for (const [position, atMs] of report.points) {
      if (points.add(position, atMs)) this.stats.points++;
      else this.stats.stale++;
    }
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Counted; logged the first time and every 100th after (a noisy publisher cannot flood). */
  private malformed(subject: string, reason: string): void {
    if (this.stats.malformed++ % 100 === 0) {
      this.logger.warn(
        `dropped a malformed applied report on ${subject}: ${reason} (${this.stats.malformed} so far)`,
      );
    }
  }
}
