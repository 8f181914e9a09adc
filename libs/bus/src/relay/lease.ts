import type { KV } from 'nats';

/**
 * A lease on one key of a JetStream KV bucket whose TTL (max age) is the lease's duration:
 * whoever creates the key holds it, renews it by a compare-and-set update on the revision it
 * wrote last, and loses it when a CAS fails or when the server drops the key for age (a holder
 * that stopped renewing). Other candidates learn it is free only by trying `create` again.
 *
 * The holder's own view is conservative: it counts itself the holder only until
 * `validityFraction` of the TTL after it *sent* its last confirmed write. The server expires
 * the key at least a full TTL after that write arrived, so the old holder has stopped before
 * anybody else can create the key — without comparing clocks between machines.
 */
export interface LeaseOptions {
  readonly kv: KV;
  readonly key: string;
  /** Unique id of this candidate; stored in the lease value. */
  readonly holder: string;
  /** The bucket's TTL in ms. */
  readonly ttlMs: number;
  /** Default 0.75. */
  readonly validityFraction?: number;
}

export interface LeaseValue {
  readonly holder: string;
  /** When this holder acquired the lease (its own clock, for people reading the bucket). */
  readonly since: string;
}

/** The JetStream API error for a failed compare-and-set (wrong last sequence). */
const WRONG_LAST_SEQUENCE = 10071;

export class Lease {
  private revision = 0;
  private validUntil = 0;
  private since = '';
  /** Bumped by every drop, so a renewal answered after it cannot bring the lease back. */
  private generation = 0;
  private readonly validityMs: number;

  constructor(private readonly options: LeaseOptions) {
    this.validityMs = options.ttlMs * (options.validityFraction ?? 0.75);
  }

  /** True while this candidate holds the lease (by its conservative reckoning). */
  get held(): boolean {
    return this.revision > 0 && performance.now() < this.validUntil;
  }

  /** Milliseconds the holder may still act without another confirmed renewal. */
  get remainingMs(): number {
    return this.held ? this.validUntil - performance.now() : 0;
  }

  /** Creates the key: true when this candidate now holds the lease, false when another does. */
  async tryAcquire(): Promise<boolean> {
    this.since = new Date().toISOString();
    const sentAt = performance.now();
    try {
      this.confirm(await this.options.kv.create(this.options.key, this.value()), sentAt);
      return true;
    } catch (error) {
      if (isCasFailure(error)) {
        return false;
      }
      throw error;
    }
  }

  /**
   * Extends the lease. 'lost' when another candidate holds it now (the CAS failed) or when the
   * holder's validity ran out; 'unknown' when the server did not answer in time and the lease
   * is still valid (the caller tries again at its next interval).
   */
  async renew(): Promise<'renewed' | 'lost' | 'unknown'> {
    if (this.revision === 0) {
      return 'lost';
    }
    const sentAt = performance.now();
    const generation = this.generation;
    try {
      const revision = await this.options.kv.update(this.options.key, this.value(), this.revision);
      if (generation !== this.generation) {
        return 'lost';
      }
      this.confirm(revision, sentAt);
      return 'renewed';
    } catch (error) {
      if (generation !== this.generation) {
        return 'lost';
      }
      if (isCasFailure(error) && !(await this.adoptOwnWrite(generation))) {
        this.drop();
        return 'lost';
      }
      if (this.held) {
        return 'unknown';
      }
      this.drop();
      return 'lost';
    }
  }

  /** Gives the lease up at once (a fenced delete), so a standby need not wait for the TTL. */
  async release(): Promise<void> {
    const revision = this.revision;
    this.drop();
    if (revision === 0) {
      return;
    }
    try {
      await this.options.kv.delete(this.options.key, { previousSeq: revision });
    } catch {
      // Another candidate holds it already, or the bus is away: the TTL frees it either way.
    }
  }

  /** Forgets the lease locally (deposed): from now on `held` is false. */
  drop(): void {
    this.generation += 1;
    this.revision = 0;
    this.validUntil = 0;
  }

  private confirm(revision: number, sentAt: number): void {
    this.revision = revision;
    this.validUntil = sentAt + this.validityMs;
  }

  /**
   * After a failed CAS: a renewal whose reply was lost may have been applied, leaving the key
   * at a newer revision that is still ours. Adopt it (keeping the old validity) rather than
   * stepping down for nothing.
   */
  private async adoptOwnWrite(generation: number): Promise<boolean> {
    try {
      const entry = await this.options.kv.get(this.options.key);
      if (generation !== this.generation || entry === null || entry.operation !== 'PUT') {
        return false;
      }
      const value = entry.json<LeaseValue>();
      if (value.holder !== this.options.holder || entry.revision <= this.revision) {
        return false;
      }
      this.revision = entry.revision;
      return true;
    } catch {
      return false;
    }
  }

  private value(): string {
    const value: LeaseValue = { holder: this.options.holder, since: this.since };
    return JSON.stringify(value);
  }
}

export function isCasFailure(error: unknown): boolean {
  return (
    (error as { api_error?: { err_code?: number } } | null)?.api_error?.err_code ===
    WRONG_LAST_SEQUENCE
  );
}
