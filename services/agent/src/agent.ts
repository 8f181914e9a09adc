import {
  agentSubject,
  BusReader,
  CommandClient,
  CONFIG,
  encodeJson,
  okReply,
  START_OF_LOG,
  MAX_APPLIED_POINTS,
  type AgentStatus,
  type AppliedReport,
  type BusCheckpoint,
  type LogSource,
} from '@strata/bus';
import type { RecordedEvent } from '@strata/eventstore';
import { createForwardingState, digest, ForwardingState } from '@strata/forwarding';
import { LatencyHistogram } from '@strata/telemetry';
import type { NatsConnection, Subscription } from 'nats';
import type { CheckpointStore } from './checkpoint-file';
import type { DataplaneOperations } from './dataplane';
import { Reconciler } from './reconciler';

export interface NodeAgentOptions {
  readonly nc: NatsConnection;
  readonly node: string;
  readonly vtepAddress: string;
  readonly vtepMac: string;
  /** Where catch-up and gap fills are read: RemoteLog over NATS, or a store. */
  readonly log: LogSource;
  readonly dataplane: DataplaneOperations;
  /**
   * Where the agent keeps its checkpoint; none means it starts from the log's beginning. A
   * checkpoint may also come from elsewhere (a snapshot handed to a joining node).
   */
  readonly checkpoint?: CheckpointStore;
  /** Register the node and heartbeat (default true; simulations may register elsewhere). */
  readonly register?: boolean;
  /** Default 1,000 ms; 0 sends none. */
  readonly heartbeatIntervalMs?: number;
  /** Periodic re-read of the real dataplane. Default 30,000 ms; 0 never. */
  readonly resyncIntervalMs?: number;
  /** Checkpoint when the position moved, at most this often. Default 5,000 ms; 0 never. */
  readonly checkpointIntervalMs?: number;
  /** Applied reports are batched this long. Default 100 ms. */
  readonly reportIntervalMs?: number;
  /** Passed to the bus reader: read the log when the bus is silent this long. */
  readonly idleTimeoutMs?: number;
  /** Wall clock in ms since the epoch (fractional allowed). Default Date.now. */
  readonly now?: () => number;
  readonly onWarning?: (error: Error) => void;
}

interface Pending {
  readonly position: number;
  readonly recordedAtMs: number;
}

/**
 * The node agent: the event log becomes this node's dataplane.
 *
 * 1. It restores its fold from its checkpoint (if any) and resumes the bus reader from the
 *    checkpoint's (position, seq) — a restart reads only what it missed, never a relist.
 * 2. It registers its node (VTEP address and MAC) and heartbeats.
 * 3. Every event is folded (libs/forwarding) as it arrives, in log order, gaps filled by the
 *    reader; the reconciler writes the resulting delta to the dataplane, at most one write in
 *    flight, coalescing what arrives meanwhile.
 * 4. After each write it publishes "applied up to position P at time T" (batched) and records
 *    each event's propagation time (applied − recorded) in a histogram.
 * 5. It checkpoints periodically and on stop, re-reads the dataplane periodically, and answers
 *    status queries.
 */
export class NodeAgent {
  readonly state: ForwardingState;
  readonly propagation = new LatencyHistogram();
  private readonly reconciler: Reconciler;
  private readonly now: () => number;
  private reader: BusReader | undefined;
  private last: BusCheckpoint;
  private readonly resumedFrom: number;
  private pending: Pending[] = [];
  private pendingHead = 0;
  private points: [number, number][] = [];
  private savedPosition: number;
  private registered = false;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private status: Subscription | undefined;
  private readonly client: CommandClient;
  private readonly appliedWaiters = new Set<() => void>();
  private resolveRegistered!: () => void;
  /** Resolves once the node is registered with the control plane. */
  readonly registeredOnce: Promise<void> = new Promise((resolve) => {
    this.resolveRegistered = resolve;
  });

  private constructor(
    private readonly options: NodeAgentOptions,
    state: ForwardingState,
    from: BusCheckpoint,
  ) {
    this.state = state;
    this.last = from;
    this.resumedFrom = from.position;
    this.savedPosition = from.position;
    this.now = options.now ?? Date.now;
    this.client = new CommandClient(options.nc, { actor: `agent:${options.node}` });
    this.reconciler = new Reconciler({
      state,
      dataplane: options.dataplane,
      now: this.now,
      onApplied: (position, atMs) => this.applied(position, atMs),
      onWarning: (error) => this.warn(error),
    });
  }

  /** Restores from the checkpoint, reconciles the dataplane, and starts following the log. */
  static async start(options: NodeAgentOptions): Promise<NodeAgent> {
    const { state, from } = await NodeAgent.restore(options);
    const agent = new NodeAgent(options, state, from);
    await agent.begin();
    return agent;
  }

  private static async restore(
    options: NodeAgentOptions,
  ): Promise<{ state: ForwardingState; from: BusCheckpoint }> {
    const fresh = () => ({
      state: createForwardingState(options.node),
      from: START_OF_LOG,
    });
    if (options.checkpoint === undefined) return fresh();
    try {
      const stored = await options.checkpoint.load(options.node);
      if (stored === undefined) return fresh();
      const state = ForwardingState.restore(stored.state);
      if (state.node !== options.node || state.position !== stored.bus.position) {
        throw new Error(
          `its state is for ${state.node} at position ${state.position}, ` +
            `its bus checkpoint at ${stored.bus.position}`,
        );
      }
      return { state, from: stored.bus };
    } catch (error) {
      // A checkpoint is an optimisation: without one the agent reads the whole log.
      const aside = await options.checkpoint.quarantine().catch(() => undefined);
      options.onWarning?.(
        new Error(
          `ignoring the checkpoint (${(error as Error).message})` +
            (aside === undefined ? '' : `; moved to ${aside}`),
        ),
      );
      return fresh();
    }
  }

  private async begin(): Promise<void> {
    const { nc, node } = this.options;
    this.status = nc.subscribe(agentSubject(node, 'status'), {
      callback: (error, msg) => {
        if (error === null) msg.respond(encodeJson(okReply(this.statusReport())));
      },
    });
    // The dataplane may hold a previous run's entries: the first flush reads it and writes
    // only the difference, so what is already right keeps forwarding.
    this.reconciler.requestResync();
    this.reader = await BusReader.start({
      nc,
      store: this.options.log,
      from: this.last,
      handler: (event, delivery) => this.fold(event, delivery.seq),
      onWarning: (error) => this.warn(error),
      ...(this.options.idleTimeoutMs === undefined
        ? {}
        : { idleTimeoutMs: this.options.idleTimeoutMs }),
    });
    this.reader.done.catch((error: unknown) => {
      if (!this.closed) this.warn(new Error(`bus reader stopped: ${(error as Error).message}`));
    });
    if (this.options.register !== false) void this.registerUntilDone();
    this.every(this.options.reportIntervalMs ?? 100, () => this.report());
    this.every(this.options.checkpointIntervalMs ?? 5_000, () => this.saveCheckpoint());
    this.every(this.options.resyncIntervalMs ?? 30_000, () => this.reconciler.requestResync());
    if (this.options.register !== false) {
      this.every(this.options.heartbeatIntervalMs ?? 1_000, () => this.heartbeat());
    }
  }

  /** The bus position the agent has folded, and the one its dataplane holds. */
  get position(): number {
    return this.state.position;
  }

  get appliedPosition(): number {
    return this.reconciler.appliedPosition;
  }

  get seq(): number {
    return this.last.seq;
  }

  /** Resolves once the dataplane holds every event up to `position`. */
  waitApplied(position: number, timeoutMs = 30_000): Promise<void> {
    if (this.appliedPosition >= position) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.appliedPosition < position) return;
        clearTimeout(timer);
        this.appliedWaiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.appliedWaiters.delete(check);
        reject(
          new Error(`${this.options.node}: position ${position} not applied in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.appliedWaiters.add(check);
    });
  }

  /** The fold's, reader's and reconciler's counters (cheap: no digests). */
  counters(): Pick<AgentStatus, 'fold' | 'reader' | 'reconcile'> {
    return {
      fold: { ...this.state.stats },
      reader: { ...(this.reader?.stats ?? {}) },
      reconcile: { ...this.reconciler.stats },
    };
  }

  statusReport(): AgentStatus {
    const tables = this.state.tables;
    const summary = this.propagation.summary();
    return {
      node: this.options.node,
      registered: this.registered,
      position: this.state.position,
      seq: this.last.seq,
      appliedPosition: this.appliedPosition,
      desiredDigest: digest(this.state),
      appliedDigest: digest(this.reconciler.appliedTables),
      tables: {
        local: tables.local.size,
        remote: tables.remote.size,
        vteps: tables.vteps.size,
        policy: tables.policy.size,
        prefixes: tables.prefixes.size,
        rules: tables.rules.size,
      },
      dataplane: this.options.dataplane.kind,
      ...this.counters(),
      propagation: {
        count: summary.count,
        p50Ms: summary.p50Ms,
        p99Ms: summary.p99Ms,
        maxMs: summary.maxMs,
      },
      resumedFrom: this.resumedFrom,
      ...this.dataplaneCounters(),
    };
  }

  private dataplaneCounters(): Pick<AgentStatus, 'counters' | 'policyRules'> {
    const { dataplane } = this.options;
    if (dataplane.counters === undefined || this.closed) return {};
    try {
      return {
        counters: dataplane.counters(),
        ...(dataplane.policyRules === undefined ? {} : { policyRules: dataplane.policyRules() }),
      };
    } catch (error) {
      this.warn(new Error(`reading dataplane counters: ${(error as Error).message}`));
      return {};
    }
  }

  /** Prometheus text: the propagation histogram and the agent's counters. */
  metrics(): string {
    const labels = { node: this.options.node };
    const gauge = (name: string, help: string, value: number) =>
      `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}{node="${labels.node}"} ${value}\n`;
    return [
      this.propagation.toPrometheus(
        'strata_agent_propagation_seconds',
        'Time from an event being appended to the log to this node applying it to its dataplane.',
        labels,
      ),
      gauge('strata_agent_position', 'Log position folded into the desired state.', this.position),
      gauge(
        'strata_agent_applied_position',
        'Log position in the dataplane.',
        this.appliedPosition,
      ),
      gauge(
        'strata_agent_remote_endpoints',
        'Remote endpoints in the tables.',
        this.state.tables.remote.size,
      ),
      this.closed ? '' : this.dataplaneMetrics(),
    ].join('');
  }

  private dataplaneMetrics(): string {
    try {
      return this.options.dataplane.metrics?.(this.options.node) ?? '';
    } catch {
      return ''; // the dataplane is closing
    }
  }

  /** Re-reads the dataplane now and repairs what differs (what the periodic resync does). */
  async resync(): Promise<void> {
    this.reconciler.requestResync();
    await this.reconciler.flush();
  }

  /** Stops following the log, writes what is folded, reports and checkpoints it. */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.status?.unsubscribe();
    await this.reader?.close();
    await this.reconciler.flush();
    this.reconciler.close();
    this.report();
    await this.saveCheckpoint();
    await this.options.nc.flush().catch(() => undefined);
  }

  // --- the event path ---------------------------------------------------------------------

  private fold(event: RecordedEvent, seq: number): void {
    this.state.apply(event);
    this.last = { position: event.position, seq };
    this.pending.push({ position: event.position, recordedAtMs: event.recordedAt.getTime() });
    this.reconciler.schedule();
  }

  private applied(position: number, atMs: number): void {
    const pending = this.pending;
    let head = this.pendingHead;
    while (head < pending.length && pending[head].position <= position) {
      this.propagation.record(atMs - pending[head].recordedAtMs);
      head++;
    }
    if (head === pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else {
      this.pendingHead = head;
    }
    this.points.push([position, atMs]);
    for (const waiter of [...this.appliedWaiters]) waiter();
  }

  private report(): void {
    while (this.points.length > 0) {
      const points = this.points.splice(0, MAX_APPLIED_POINTS);
      const report: AppliedReport = { node: this.options.node, seq: this.last.seq, points };
      try {
        this.options.nc.publish(agentSubject(this.options.node, 'applied'), encodeJson(report));
      } catch (error) {
        this.warn(error as Error); // the connection is closing; reports are best effort
        return;
      }
    }
  }

  // --- control plane ----------------------------------------------------------------------

  private async registerUntilDone(): Promise<void> {
    const { node, vtepAddress, vtepMac } = this.options;
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        await this.client.execute(CONFIG.registerNode, { name: node, vtepAddress, vtepMac });
        this.registered = true;
        this.resolveRegistered();
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 10 === 0) {
          this.warn(new Error(`registering ${node}: ${(error as Error).message}`));
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * attempt)));
      }
    }
  }

  private heartbeat(): void {
    if (!this.registered) return;
    this.client.execute(CONFIG.heartbeat, { name: this.options.node }).catch((error: unknown) => {
      const code = (error as { code?: string }).code;
      // Deregistered (or the log was reset): register again.
      if (code === 'NotFound') {
        this.registered = false;
        void this.registerUntilDone();
      } else {
        this.warn(new Error(`heartbeat: ${(error as Error).message}`));
      }
    });
  }

  private async saveCheckpoint(): Promise<void> {
    const checkpoint = this.options.checkpoint;
    if (checkpoint === undefined || this.last.position === this.savedPosition) return;
    const bus = this.last;
    try {
      await checkpoint.save({
        version: 1,
        node: this.options.node,
        bus,
        state: this.state.snapshot(),
      });
      this.savedPosition = bus.position;
    } catch (error) {
      this.warn(new Error(`checkpoint: ${(error as Error).message}`));
    }
  }

  private every(intervalMs: number, run: () => unknown): void {
    if (intervalMs <= 0) return;
    const timer = setInterval(() => void run(), intervalMs);
    timer.unref();
    this.timers.push(timer);
  }

  private warn(error: Error): void {
    this.options.onWarning?.(error);
  }
}
