import { createHash } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { EVENT_STORE } from '@strata/bus';
import { identityPoolDecider, identityPoolStream } from '@strata/domain';
import {
  DeciderRunner,
  type EventStore,
  type RecordedEvent,
  type Subscription,
} from '@strata/eventstore';
import { IdentityHolders, type HeldIdentity } from './identity-holders';
import { IDENTITY_SETTINGS, type IdentitySettings } from './identity-settings';

/** The actor of the reactor's releases, in the events' metadata. */
export const IDENTITY_RELEASE_ACTOR = 'service:policy/identity-release';

const CATEGORIES = ['identitypool', 'endpoint'];
/** After a failed release or a broken subscription, try again after this long. */
const RETRY_MS = 1_000;

/**
 * Releases identities nobody holds (docs/policy.md): follows the identity pool's and the
 * endpoints' events from the log (a catch-up subscription on the store) into IdentityHolders,
 * and when an identity has been unheld for the grace period, appends IdentityReleased through
 * the pool's decider. One timer, set for the identity that falls due first.
 *
 * - Acquires go through `exclusive`, and so does each release, which checks once more right
 *   before it runs: an acquire answered by this replica inside the grace period restarts it,
 *   and no release slips in between an acquire and its reply.
 * - Before releasing, the fold catches up with the log's head, so an endpoint appended just now
 *   counts as a holder.
 * - A release's command id is derived from the allocation it ends (number, key, position), so
 *   replicas releasing the same identity append it once.
 * - Queries (`view`) catch up first too: read-your-writes, like the read models.
 *
 * Limit: an acquire answered by another replica restarts the grace only once its endpoint is
 * appended; the grace (60 s) is what covers that gap.
 */
@Injectable()
export class IdentityReleaseReactor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('IdentityReleaseReactor');
  private readonly holders: IdentityHolders;
  /** The log position folded. */
  private position = 0;
  /** Folding, in log order: subscription events and catch-ups one after another. */
  private folding: Promise<unknown> = Promise.resolve();
  /** Acquires and releases, one at a time. */
  private exclusiveTail: Promise<unknown> = Promise.resolve();
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private sweeps: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(IDENTITY_SETTINGS) private readonly settings: IdentitySettings,
  ) {
    this.holders = new IdentityHolders(settings.now());
  }

  onApplicationBootstrap(): void {
    this.follow();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.subscription?.close();
    await this.sweeps;
    await this.exclusiveTail.catch(() => undefined);
  }

  /** Runs `work` (an acquire) with no release in between; `identity` of its result restarts
   * the grace of that identity. */
  exclusive<T extends { identity: number }>(work: () => Promise<T>): Promise<T> {
    const next = this.exclusiveTail.then(async () => {
      const result = await work();
      this.holders.acquired(result.identity, this.settings.now());
      this.schedule();
      return result;
    });
    this.exclusiveTail = next.catch(() => undefined);
    return next;
  }

  /** The identity's holders as of the log's head; undefined when it is not allocated. */
  async view(identity: number): Promise<HeldIdentity | undefined> {
    await this.catchUp();
    return this.holders.get(identity);
  }

  /** Every allocated identity as of the log's head, by number. */
  async all(): Promise<HeldIdentity[]> {
    await this.catchUp();
    return this.holders.all();
  }

  /** Folds the log up to its head. */
  catchUp(): Promise<void> {
    return this.fold(async () => {
      const head = await this.store.headPosition();
      if (head <= this.position) return;
      const events = this.store.readAll({
        after: this.position,
        untilPosition: head,
        filter: { categories: CATEGORIES },
      });
      for await (const event of events) this.apply(event);
      this.position = Math.max(this.position, head);
    });
  }

  private fold(work: () => Promise<void> | void): Promise<void> {
    const next = this.folding.then(work);
    this.folding = next.catch(() => undefined);
    return next;
  }

  private apply(event: RecordedEvent): void {
    if (event.position <= this.position) return;
    this.holders.apply({
      type: event.type,
      data: event.data,
      position: event.position,
      recordedAtMs: event.recordedAt.getTime(),
    });
    this.position = event.position;
  }

  private follow(): void {
    if (this.closed) return;
    const subscription = this.store.subscribe({
      after: this.position,
      filter: { categories: CATEGORIES },
    });
    this.subscription = subscription;
    void (async () => {
      try {
        for await (const event of subscription) {
          await this.fold(() => this.apply(event));
          this.schedule();
        }
      } catch (error) {
        if (this.closed) return;
        this.logger.warn(`following the log: ${(error as Error).message}; again in ${RETRY_MS} ms`);
        setTimeout(() => this.follow(), RETRY_MS).unref();
      }
    })();
    void subscription.caughtUp.then(
      () => this.schedule(),
      () => undefined,
    );
  }

  /** Sets the timer for the identity that falls due first. */
  private schedule(delayMs?: number): void {
    if (this.closed || this.sweeping) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const due = this.holders.nextDue(this.settings.releaseGraceMs);
    if (due === undefined && delayMs === undefined) return;
    const wait = delayMs ?? Math.max(0, (due as number) - this.settings.now());
    this.timer = setTimeout(() => void this.releaseDue(), wait);
    this.timer.unref();
  }

  /**
   * Releases every identity unheld for the grace period now: what the timer runs (tests call it
   * with a clock they move), one pass after another. A failure is logged and retried after a
   * second; the promise never rejects.
   */
  releaseDue(): Promise<void> {
    const next = this.sweeps.then(() => this.sweep());
    this.sweeps = next;
    return next;
  }

  private async sweep(): Promise<void> {
    if (this.closed) return;
    this.sweeping = true;
    let retry = false;
    try {
      await this.catchUp();
      const grace = this.settings.releaseGraceMs;
      for (const candidate of this.holders.due(this.settings.now(), grace)) {
        await this.exclusiveRelease(candidate, grace);
      }
      await this.catchUp();
    } catch (error) {
      retry = true;
      this.logger.warn(
        `releasing identities: ${(error as Error).message}; again in ${RETRY_MS} ms`,
      );
    } finally {
      this.sweeping = false;
    }
    this.schedule(retry ? RETRY_MS : undefined);
  }

  private exclusiveRelease(candidate: HeldIdentity, graceMs: number): Promise<void> {
    const next = this.exclusiveTail.then(async () => {
      // An acquire may have come in since the candidate was picked.
      const now = this.holders.get(candidate.identity);
      if (
        now === undefined ||
        now.allocatedAt !== candidate.allocatedAt ||
        now.idleSince === undefined ||
        now.idleSince + graceMs > this.settings.now()
      ) {
        return;
      }
      const commandId = releaseCommandId(now);
      await this.runner.run(
        identityPoolDecider,
        identityPoolStream(),
        { type: 'ReleaseIdentity', data: { identity: now.identity, key: now.key } },
        { commandId, actor: IDENTITY_RELEASE_ACTOR, correlationId: commandId },
      );
    });
    this.exclusiveTail = next.catch(() => undefined);
    return next;
  }
}

/** One id per allocation released (43 printable characters). */
function releaseCommandId(held: HeldIdentity): string {
  return createHash('sha256')
    .update(`identity-release\n${held.identity}\n${held.key}\n${held.allocatedAt}`)
    .digest('base64url');
}
