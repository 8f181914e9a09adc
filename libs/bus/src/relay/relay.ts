import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { EventStore, RecordedEvent, Subscription } from '@strata/eventstore';
import { injectTraceContext, tracer } from '@strata/telemetry';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { KvWatchInclude, type KV, type NatsConnection } from 'nats';
import { RELAY_CHECKPOINT_BUCKET, RELAY_LEASE_BUCKET } from '../subjects';
import { START_OF_LOG, encodeEventMessage, encodeHeartbeat, type BusCheckpoint } from './codec';
import { Lease, isCasFailure } from './lease';

/**
 * The relay: the one process that reads the global log and publishes every event to NATS,
 * with a dense sequence number. See ./README.md for the design; in short:
 *
 * - Candidates campaign for a lease (a key in the `strata_relay` KV bucket, whose TTL is the
 *   lease's); only the holder publishes. A standby retries `create` every `campaignIntervalMs`,
 *   and at once when it sees the key deleted (a graceful handover).
 * - `Strata-Seq` is the event's index in the global log. The relay counts from a checkpoint
 *   (position, seq) kept in the `strata_relay_checkpoint` bucket, so a successor that resumes
 *   from a slightly stale checkpoint republishes identical (seq, position) pairs, and readers
 *   drop them as duplicates. Two relays can therefore never disagree about a number: exclusivity
 *   is for efficiency, correctness does not depend on it.
 * - A holder that loses the lease (a CAS fails, or it cannot renew within its validity) stops
 *   publishing before its next event; the check is synchronous, on every event.
 */

export type RelayState = 'starting' | 'standby' | 'leading' | 'stopped';

export interface RelayOptions {
  readonly store: EventStore;
  readonly nc: NatsConnection;
  /** Relays with the same name share one lease and one checkpoint. Default 'global'. */
  readonly name?: string;
  /** This candidate's id in the lease. Default `<host>:<pid>:<random>`. */
  readonly holder?: string;
  /**
   * Lease duration, used when this relay creates the lease bucket. An existing bucket keeps
   * its own TTL, and the relay uses that. Default 10 s.
   */
  readonly leaseTtlMs?: number;
  /** Default a quarter of the TTL. */
  readonly renewIntervalMs?: number;
  /** How often a standby tries to take a lease held by another. Default a quarter of the TTL. */
  readonly campaignIntervalMs?: number;
  /** How often the holder publishes its head (seq, position) for readers. Default 1 s. */
  readonly heartbeatIntervalMs?: number;
  /** Save the checkpoint after this many events... Default 500. */
  readonly checkpointEvery?: number;
  /** ...or when this long has passed with unsaved progress. Default 1 s. */
  readonly checkpointIntervalMs?: number;
  /** Replicas of the KV buckets when this relay creates them. Default 1. */
  readonly replicas?: number;
  readonly onStateChange?: (state: RelayState) => void;
  /** Failures the relay survives (store or NATS trouble, an event too large to publish). */
  readonly onError?: (error: Error) => void;
}

export interface RelayStats {
  /** Events published by this relay instance, over all its terms. */
  published: number;
  heartbeats: number;
  checkpoints: number;
  /** Times this instance acquired the lease. */
  terms: number;
}

export class RelayError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RelayError';
  }
}

type Settings = Required<
  Pick<
    RelayOptions,
    | 'renewIntervalMs'
    | 'campaignIntervalMs'
    | 'heartbeatIntervalMs'
    | 'checkpointEvery'
    | 'checkpointIntervalMs'
  >
>;

interface StoredCheckpoint extends BusCheckpoint {
  readonly holder: string;
}

const DEFAULT_TTL_MS = 10_000;
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

export class Relay {
  readonly stats: RelayStats = { published: 0, heartbeats: 0, checkpoints: 0, terms: 0 };
  private currentState: RelayState = 'starting';
  private stopping = false;
  private running: Promise<void> = Promise.resolve();
  private last: BusCheckpoint = START_OF_LOG;
  private saved: BusCheckpoint = START_OF_LOG;
  private savedAt = 0;
  private checkpointRevision = 0;
  private saving: Promise<void> | undefined;
  private renewal: Promise<void> | undefined;
  private subscription: Subscription | undefined;
  private wakeCampaign: (() => void) | undefined;
  private readonly stateListeners = new Set<(state: RelayState) => void>();
  private stopWatching: (() => void) | undefined;
  private readonly lease: Lease;

  private constructor(
    private readonly options: RelayOptions,
    private readonly settings: Settings,
    readonly holder: string,
    private readonly key: string,
    readonly leaseTtlMs: number,
    private readonly leaseKv: KV,
    private readonly checkpointKv: KV,
  ) {
    this.lease = new Lease({ kv: leaseKv, key, holder, ttlMs: leaseTtlMs });
  }

  /** Opens (creating when missing) the KV buckets and starts campaigning. */
  static async start(options: RelayOptions): Promise<Relay> {
    const name = options.name ?? 'global';
    if (!NAME.test(name)) {
      throw new RelayError(`invalid relay name ${JSON.stringify(name)}: letters, digits, _ and -`);
    }
    const ttl = options.leaseTtlMs ?? DEFAULT_TTL_MS;
    positiveInteger('leaseTtlMs', ttl);
    const { nc } = options;
    const replicas = options.replicas ?? 1;
    // Bucket creation may take a while on a cluster; lease operations must answer well within
    // the lease, so they go through a client with a short request timeout.
    const admin = nc.jetstream();
    await admin.views.kv(RELAY_LEASE_BUCKET, { ttl, history: 1, replicas });
    await admin.views.kv(RELAY_CHECKPOINT_BUCKET, { history: 1, replicas });
    const fast = nc.jetstream({ timeout: clamp(Math.floor(ttl / 4), 200, 5_000) });
    const leaseKv = await fast.views.kv(RELAY_LEASE_BUCKET);
    const bucketTtl = (await leaseKv.status()).ttl;
    if (!(bucketTtl > 0)) {
      throw new RelayError(
        `KV bucket ${RELAY_LEASE_BUCKET} has no TTL, so a lease could not expire`,
      );
    }
    const settings: Settings = {
      renewIntervalMs: options.renewIntervalMs ?? Math.max(1, Math.floor(bucketTtl / 4)),
      campaignIntervalMs: options.campaignIntervalMs ?? Math.max(1, Math.floor(bucketTtl / 4)),
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
      checkpointEvery: options.checkpointEvery ?? 500,
      checkpointIntervalMs: options.checkpointIntervalMs ?? 1_000,
    };
    for (const [option, value] of Object.entries(settings)) {
      positiveInteger(option, value);
    }
    if (settings.renewIntervalMs > bucketTtl / 2) {
      throw new RelayError(
        `renewIntervalMs ${settings.renewIntervalMs} is over half the lease TTL (${bucketTtl} ms): the lease would lapse between renewals`,
      );
    }
    const checkpointKv = await fast.views.kv(RELAY_CHECKPOINT_BUCKET);
    const holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const relay = new Relay(options, settings, holder, name, bucketTtl, leaseKv, checkpointKv);
    await relay.watchLease();
    relay.running = relay.run();
    return relay;
  }

  get state(): RelayState {
    return this.currentState;
  }

  /** The last event this instance published: its position and seq. */
  get lastPublished(): BusCheckpoint {
    return this.last;
  }

  /** Resolves when the relay is (or next becomes) `state`. */
  whenState(state: RelayState): Promise<void> {
    if (this.currentState === state) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const listener = (next: RelayState) => {
        if (next === state) {
          this.stateListeners.delete(listener);
          resolve();
        }
      };
      this.stateListeners.add(listener);
    });
  }

  /**
   * Stops publishing; a holder saves its checkpoint and releases the lease, so a standby takes
   * over at once and resumes exactly where this one stopped.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeCampaign?.();
    await this.subscription?.close();
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (this.options.nc.isClosed()) {
        // Nothing more can be published or leased; the owner of the connection is shutting down.
        this.report(new RelayError('the NATS connection is closed; the relay stops'));
        this.stopping = true;
        break;
      }
      let acquired = false;
      try {
        acquired = await this.lease.tryAcquire();
      } catch (error) {
        this.report(error);
      }
      if (acquired && !this.stopping) {
        this.stats.terms += 1;
        try {
          await this.lead();
        } catch (error) {
          this.report(error);
        } finally {
          await this.lease.release();
        }
      } else if (acquired) {
        await this.lease.release();
      }
      if (!this.stopping) {
        this.setState('standby');
        await this.campaignPause();
      }
    }
    this.stopWatching?.();
    this.stopWatching = undefined;
    this.setState('stopped');
  }

  /** One term as the holder: resume from the checkpoint and publish until deposed or stopped. */
  private async lead(): Promise<void> {
    const renewTimer = setInterval(() => this.renewLease(), this.settings.renewIntervalMs);
    try {
      const checkpoint = await this.takeCheckpoint();
      const head = await this.options.store.headPosition();
      if (checkpoint.position > head || checkpoint.seq > checkpoint.position) {
        throw new RelayError(
          `checkpoint (position ${checkpoint.position}, seq ${checkpoint.seq}) does not fit the store (head ${head}): was the store replaced?`,
        );
      }
      if (this.lease.held && !this.stopping) {
        await this.publishFrom(checkpoint);
      }
    } finally {
      clearInterval(renewTimer);
      await this.renewal;
    }
  }

  private async publishFrom(checkpoint: BusCheckpoint): Promise<void> {
    this.last = checkpoint;
    this.saved = checkpoint;
    this.savedAt = performance.now();
    const subscription = this.options.store.subscribe({ after: checkpoint.position });
    this.subscription = subscription;
    this.setState('leading');
    const heartbeatTimer = setInterval(() => this.tick(), this.settings.heartbeatIntervalMs);
    try {
      for await (const event of subscription) {
        // Checked before every event: a holder past its validity publishes nothing more.
        if (!this.lease.held || this.stopping) {
          break;
        }
        this.publish(event);
        if (this.last.seq - this.saved.seq >= this.settings.checkpointEvery) {
          await this.saveCheckpoint();
        }
      }
    } finally {
      clearInterval(heartbeatTimer);
      this.subscription = undefined;
      await subscription.close();
      await this.saving;
      if (this.lease.held) {
        await this.saveCheckpoint().catch((error: unknown) => this.report(error));
      }
    }
  }

  private publish(event: RecordedEvent): void {
    const seq = this.last.seq + 1;
    const message = encodeEventMessage(event, seq, this.last.position);
    const span = tracer().startSpan(`${message.subject} publish`, {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'nats',
        'messaging.operation.type': 'send',
        'messaging.destination.name': message.subject,
        'strata.event.id': event.id,
        'strata.event.type': event.type,
        'strata.event.position': event.position,
        'strata.bus.seq': seq,
      },
    });
    if (message.headers !== undefined) {
      injectTraceContext(message.headers, trace.setSpan(context.active(), span));
    }
    try {
      this.options.nc.publish(
        message.subject,
        message.data,
        message.headers === undefined ? undefined : { headers: message.headers },
      );
      this.stats.published += 1;
    } catch (error) {
      if ((error as { code?: string }).code !== 'MAX_PAYLOAD_EXCEEDED') {
        span.end();
        throw error;
      }
      // Too large for this server's max_payload: the seq is used anyway, so readers see a gap
      // and read the event from the store.
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'payload too large for NATS' });
      this.report(
        new RelayError(`event ${event.id} at ${event.position} is too large to publish`, {
          cause: error,
        }),
      );
    }
    span.end();
    this.last = { position: event.position, seq };
  }

  private tick(): void {
    if (!this.lease.held) {
      return;
    }
    const heartbeat = encodeHeartbeat(this.last, this.holder);
    try {
      this.options.nc.publish(heartbeat.subject, heartbeat.data);
      this.stats.heartbeats += 1;
    } catch (error) {
      this.report(error);
    }
    if (
      this.saving === undefined &&
      this.last.seq > this.saved.seq &&
      performance.now() - this.savedAt >= this.settings.checkpointIntervalMs
    ) {
      this.saveCheckpoint().catch((error: unknown) => this.report(error));
    }
  }

  private renewLease(): void {
    if (this.renewal !== undefined) {
      return;
    }
    this.renewal = this.lease
      .renew()
      .then((outcome) => {
        if (outcome === 'lost') {
          this.depose('lost the lease');
        } else if (outcome === 'unknown') {
          this.report(new RelayError('lease renewal unanswered; retrying'));
        }
        if (!this.lease.held) {
          this.depose('lease validity ran out');
        }
      })
      .finally(() => {
        this.renewal = undefined;
      });
  }

  /** Stops publishing at once: the next event, or the idle subscription, ends the term. */
  private depose(reason: string): void {
    const subscription = this.subscription;
    this.lease.drop();
    if (subscription !== undefined) {
      this.subscription = undefined;
      this.report(new RelayError(`deposed: ${reason}`));
      void subscription.close();
    }
  }

  /**
   * Reads the checkpoint and writes it back with a compare-and-set, so the revision moves and
   * a deposed holder's late checkpoint write fails rather than overwriting ours.
   */
  private async takeCheckpoint(): Promise<BusCheckpoint> {
    for (let attempt = 0; ; attempt++) {
      const entry = await this.checkpointKv.get(this.key);
      const stored =
        entry === null || entry.operation !== 'PUT'
          ? undefined
          : parseCheckpoint(entry.string(), entry.revision);
      const checkpoint = stored ?? START_OF_LOG;
      try {
        this.checkpointRevision =
          entry === null
            ? await this.checkpointKv.create(this.key, this.checkpointValue(checkpoint))
            : await this.checkpointKv.update(
                this.key,
                this.checkpointValue(checkpoint),
                entry.revision,
              );
        return checkpoint;
      } catch (error) {
        if (!isCasFailure(error) || attempt >= 3) {
          throw error;
        }
      }
    }
  }

  /** Flushes what was published, then records it as the checkpoint (one save at a time). */
  private saveCheckpoint(): Promise<void> {
    const save = (this.saving ?? Promise.resolve()).then(() => this.writeCheckpoint());
    const tracked: Promise<void> = save
      .catch(() => undefined)
      .then(() => {
        if (this.saving === tracked) {
          this.saving = undefined;
        }
      });
    this.saving = tracked;
    return save;
  }

  private async writeCheckpoint(): Promise<void> {
    if (!this.lease.held || this.last.seq === this.saved.seq) {
      return;
    }
    const checkpoint = this.last;
    await this.options.nc.flush();
    try {
      this.checkpointRevision = await this.checkpointKv.update(
        this.key,
        this.checkpointValue(checkpoint),
        this.checkpointRevision,
      );
    } catch (error) {
      if (isCasFailure(error)) {
        this.depose('another relay wrote the checkpoint');
        return;
      }
      throw error;
    }
    this.saved = checkpoint;
    this.savedAt = performance.now();
    this.stats.checkpoints += 1;
  }

  private checkpointValue(checkpoint: BusCheckpoint): string {
    const value: StoredCheckpoint = { ...checkpoint, holder: this.holder };
    return JSON.stringify(value);
  }

  /** Wakes a standby at once when the lease key is deleted (a holder handing over). */
  private async watchLease(): Promise<void> {
    const watcher = await this.leaseKv.watch({
      key: this.key,
      include: KvWatchInclude.UpdatesOnly,
    });
    this.stopWatching = () => watcher.stop();
    void (async () => {
      try {
        for await (const entry of watcher) {
          if (entry.operation !== 'PUT') {
            this.wakeCampaign?.();
          }
        }
      } catch (error) {
        this.report(error);
      }
    })();
  }

  private campaignPause(): Promise<void> {
    if (this.stopping) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeCampaign = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.settings.campaignIntervalMs);
      this.wakeCampaign = done;
    });
  }

  private setState(state: RelayState): void {
    if (state === this.currentState) {
      return;
    }
    this.currentState = state;
    this.options.onStateChange?.(state);
    for (const listener of [...this.stateListeners]) {
      listener(state);
    }
  }

  private report(error: unknown): void {
    this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
  }
}

function parseCheckpoint(text: string, revision: number): StoredCheckpoint {
  let value: Partial<StoredCheckpoint>;
  try {
    value = JSON.parse(text) as Partial<StoredCheckpoint>;
  } catch {
    throw new RelayError(`relay checkpoint (revision ${revision}) is not JSON: ${text}`);
  }
  const { position, seq } = value;
  if (!Number.isSafeInteger(position) || !Number.isSafeInteger(seq) || position! < 0 || seq! < 0) {
    throw new RelayError(`relay checkpoint (revision ${revision}) is malformed: ${text}`);
  }
  return { position: position!, seq: seq!, holder: String(value.holder ?? '') };
}

function positiveInteger(option: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RelayError(`${option} must be a positive integer, not ${value}`);
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
