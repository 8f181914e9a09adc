import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { isDomainError, type Timestamp } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { markNodeDown } from '../mark-node-down/mark-node-down.handler';
import { ConfigReadModel } from '../read-model/config-read-model';
import { Clock } from '../shared/clock';
import { inGracePeriod, NodeLiveness, nodesToMarkDown } from './node-liveness';

/** The actor of the watchdog's commands, in the events' metadata. */
export const LIVENESS_ACTOR = 'svc:config:liveness';

/** What one look for silent nodes found and did. */
export interface LivenessCheck {
  /** The replica's clock when the check began. */
  readonly at: Timestamp;
  /**
   * `judged`: silent nodes were marked down. `grace`: within one timeout of the replica starting
   * to watch, nobody was judged. `disconnected`: the replica's NATS connection is down (no
   * heartbeat can reach it), nobody was judged. `off`: the watchdog is off (timeout 0) or not
   * started.
   */
  readonly outcome: 'judged' | 'grace' | 'disconnected' | 'off';
  /** The nodes this check marked down (whose NodeMarkedDown this replica appended). */
  readonly markedDown: readonly string[];
}

/**
 * The liveness watchdog of one config replica: every `checkIntervalMs` it reads the ready nodes
 * from the read model and sends MarkNodeDown (with its clock's time, its timeout and the
 * heartbeat resolution) for each that `nodesToMarkDown` picks, through the decider and the store
 * like the mark-down route. It logs one line (a warning) per node it marks down.
 *
 * Replicas each run one, uncoordinated: the decision is the decider's, on the node's stream,
 * appended at the stream's expected revision. Two replicas racing on one node make one
 * NodeMarkedDown: the second append conflicts, the runner reads the first and decides nothing
 * (a node already down). A heartbeat recorded meanwhile by another replica wins the same way.
 *
 * The replica judges nobody while its NATS connection is down, and starts a new grace period
 * when it comes back (see `nodesToMarkDown`): silence it could not hear is not evidence.
 * Started by startConfigService once both transports serve, stopped first when it closes; the
 * connection state comes from the NATS transport's status.
 */
@Injectable()
export class NodeLivenessWatchdog {
  private readonly logger = new Logger('NodeLiveness');
  private watchingSinceMs: number | undefined;
  private connected = true;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** The check in progress (or the last one): checks run one at a time. */
  private checking: Promise<unknown> = Promise.resolve();
  private waiters: ((check: LivenessCheck) => void)[] = [];

  constructor(
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(NodeLiveness) private readonly liveness: NodeLiveness,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /** False when the timeout is 0: the watchdog never marks anyone down. */
  get enabled(): boolean {
    return this.liveness.settings.timeoutMs > 0;
  }

  /** Starts watching (the grace period begins now), then checks every interval. */
  start(): void {
    if (!this.enabled || this.watchingSinceMs !== undefined || this.stopped) return;
    this.watchingSinceMs = this.clock.millis();
    this.schedule();
  }

  /** The replica's NATS connection went down or came back; back, a new grace period begins. */
  connectionChanged(connected: boolean): void {
    if (connected && !this.connected && this.watchingSinceMs !== undefined) {
      this.watchingSinceMs = this.clock.millis();
    }
    this.connected = connected;
  }

  /** Looks now (after any check in progress), besides the periodic checks. */
  check(): Promise<LivenessCheck> {
    const next = this.checking.then(() => this.checkNow());
    this.checking = next.catch(() => undefined);
    return next;
  }

  /** The next check to complete, periodic or not. */
  nextCheck(): Promise<LivenessCheck> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** No more checks; resolves once the one in progress is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.checking;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.check()
        .catch((error: unknown) => {
          this.logger.warn(`liveness check failed: ${describe(error)}`);
        })
        .finally(() => this.schedule());
    }, this.liveness.settings.checkIntervalMs);
  }

  private async checkNow(): Promise<LivenessCheck> {
    const nowMs = this.clock.millis();
    const at = new Date(nowMs).toISOString();
    const { timeoutMs, resolutionMs } = this.liveness.settings;
    let check: LivenessCheck;
    if (!this.enabled || this.watchingSinceMs === undefined) {
      check = { at, outcome: 'off', markedDown: [] };
    } else if (!this.connected) {
      check = { at, outcome: 'disconnected', markedDown: [] };
    } else if (inGracePeriod({ nowMs, watchingSinceMs: this.watchingSinceMs, timeoutMs })) {
      check = { at, outcome: 'grace', markedDown: [] };
    } else {
      const silent = nodesToMarkDown(await this.readModel.registeredNodes(), {
        nowMs,
        watchingSinceMs: this.watchingSinceMs,
        timeoutMs,
        heardAt: this.liveness.heardSince(nowMs),
      });
      const markedDown: string[] = [];
      for (const name of silent) {
        if (this.stopped) break;
        if (await this.markDown(name, at, timeoutMs, resolutionMs)) markedDown.push(name);
      }
      check = { at, outcome: 'judged', markedDown };
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve(check);
    return check;
  }

  /** True when this replica marked the node down (false: not silent after all, or raced). */
  private async markDown(
    name: string,
    now: Timestamp,
    timeoutMs: number,
    resolutionMs: number,
  ): Promise<boolean> {
    const commandId = randomUUID();
    try {
      const result = await markNodeDown(
        this.runner,
        { name, now, timeoutMs, resolutionMs },
        { commandId, actor: LIVENESS_ACTOR, correlationId: commandId },
      );
      const down = result.events.find((event) => event.type === 'NodeMarkedDown');
      if (down === undefined) return false;
      this.logger.warn(
        `node ${name} marked down: no heartbeat since ${down.data.lastHeartbeatAt} ` +
          `(timeout ${timeoutMs} ms)`,
      );
      return true;
    } catch (error) {
      // Deregistered since the read model was read: nothing to mark.
      if (isDomainError(error) && error.code === 'NotFound') return false;
      this.logger.warn(`could not mark node ${name} down: ${describe(error)}`);
      return false;
    }
  }
}

function describe(error: unknown): string {
  const coded = error as { code?: unknown; message?: unknown } | null;
  return typeof coded?.code === 'string'
    ? `${coded.code}: ${String(coded.message)}`
    : String((error as Error)?.message ?? error);
}
