import type { Labels } from '@strata/domain';

/**
 * Which endpoints hold which identity, folded from the identity pool's and the endpoints'
 * events (`identitypool-*`, `endpoint-*`), and since when each unheld identity has been
 * unheld: what the release reactor decides on and what `strata.policy.identity.get|list` show.
 *
 * Pure: times come in with the events (their recordedAt, in ms) and with `acquired`, never from
 * a clock. `floorMs` (the replica's start) lifts old times, so after a restart every unheld
 * identity gets a full grace period again: an acquire answered just before the restart may not
 * have reached its endpoint's stream yet.
 */
export interface HeldIdentity {
  readonly identity: number;
  readonly key: string;
  readonly labels: Labels;
  /** Global position of its IdentityAllocated (names this allocation of the number). */
  readonly allocatedAt: number;
  readonly holders: ReadonlySet<string>;
  /** When it lost its last holder (or was allocated or last acquired); undefined while held. */
  readonly idleSince: number | undefined;
}

/** The parts of a recorded event the fold reads. */
export interface FoldedEvent {
  readonly type: string;
  readonly data: unknown;
  readonly position: number;
  /** ms since the Unix epoch. */
  readonly recordedAtMs: number;
}

interface Entry {
  identity: number;
  key: string;
  labels: Labels;
  allocatedAt: number;
  holders: Set<string>;
  idleSince: number | undefined;
}

export class IdentityHolders {
  private readonly identities = new Map<number, Entry>();
  /** Endpoint uid -> the identity its last event gave it. */
  private readonly endpoints = new Map<string, number>();

  constructor(private readonly floorMs = 0) {}

  get size(): number {
    return this.identities.size;
  }

  get(identity: number): HeldIdentity | undefined {
    return this.identities.get(identity);
  }

  /** Every allocated identity, by number. */
  all(): HeldIdentity[] {
    return [...this.identities.values()].sort((a, b) => a.identity - b.identity);
  }

  apply(event: FoldedEvent): void {
    const at = Math.max(event.recordedAtMs, this.floorMs);
    const data = event.data as Record<string, unknown>;
    switch (event.type) {
      case 'IdentityAllocated': {
        const identity = data.identity as number;
        const holders = new Set<string>();
        for (const [uid, held] of this.endpoints) if (held === identity) holders.add(uid);
        this.identities.set(identity, {
          identity,
          key: data.key as string,
          labels: data.labels as Labels,
          allocatedAt: event.position,
          holders,
          idleSince: holders.size === 0 ? at : undefined,
        });
        return;
      }
      case 'IdentityReleased': {
        if (this.identities.get(data.identity as number)?.key === data.key) {
          this.identities.delete(data.identity as number);
        }
        return;
      }
      case 'EndpointCreated':
      case 'EndpointLabelsUpdated':
        this.hold(data.uid as string, data.identity, at);
        return;
      case 'EndpointDeleted':
        this.hold(data.uid as string, undefined, at);
        return;
      default:
        return;
    }
  }

  /**
   * An acquire answered at `atMs` for `identity`: if nobody holds it, its grace period starts
   * again (the endpoint that asked is about to be appended with it).
   */
  acquired(identity: number, atMs: number): void {
    const entry = this.identities.get(identity);
    if (entry !== undefined && entry.holders.size === 0) {
      entry.idleSince = Math.max(entry.idleSince ?? atMs, atMs);
    }
  }

  /** Identities unheld for at least `graceMs` at `nowMs`, by number. */
  due(nowMs: number, graceMs: number): HeldIdentity[] {
    return this.all().filter(
      (entry) => entry.idleSince !== undefined && entry.idleSince + graceMs <= nowMs,
    );
  }

  /** When the next identity falls due (ms), or undefined when every identity is held. */
  nextDue(graceMs: number): number | undefined {
    let next: number | undefined;
    for (const entry of this.identities.values()) {
      if (entry.idleSince !== undefined) {
        next = Math.min(next ?? Infinity, entry.idleSince + graceMs);
      }
    }
    return next;
  }

  private hold(uid: string, identity: unknown, at: number): void {
    const previous = this.endpoints.get(uid);
    if (previous !== undefined) {
      const entry = this.identities.get(previous);
      if (entry?.holders.delete(uid) === true && entry.holders.size === 0) entry.idleSince = at;
    }
    // Endpoint events written before identities existed carry none: nothing to hold.
    if (typeof identity !== 'number') {
      this.endpoints.delete(uid);
      return;
    }
    this.endpoints.set(uid, identity);
    const entry = this.identities.get(identity);
    if (entry !== undefined) {
      entry.holders.add(uid);
      entry.idleSince = undefined;
    }
  }
}
