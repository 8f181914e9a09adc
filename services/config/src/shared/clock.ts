import type { Timestamp } from '@strata/domain';

/**
 * The service's clock: times enter the domain inside commands (RFC 3339 UTC), read here at
 * the boundary when the request does not carry one, and the liveness watchdog judges silence
 * by it. The deciders never read a clock. One instance per service, injected by class, so a
 * test can start a replica whose clock it moves.
 */
export class Clock {
  /** `read` gives milliseconds since the Unix epoch. Default: the system clock. */
  constructor(private readonly read: () => number = () => Date.now()) {}

  /** Milliseconds since the Unix epoch. */
  millis(): number {
    return this.read();
  }

  now(): Timestamp {
    return new Date(this.read()).toISOString();
  }
}
