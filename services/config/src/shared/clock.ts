import type { Timestamp } from '@strata/domain';

/**
 * The service's clock: times enter the domain inside commands (RFC 3339 UTC), read here at
 * the boundary when the request does not carry one. The deciders never read a clock.
 */
export function now(): Timestamp {
  return new Date().toISOString();
}
