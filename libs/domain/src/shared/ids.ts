import { DomainError } from './errors';

/**
 * Ids of aggregates (segments, pools, services, clusters), endpoint uids and address owners.
 * They become part of stream names (`segment-<id>`) and NATS subject tokens, so they use the
 * alphabet every event store and NATS carry unescaped: ASCII letters, digits and `_ : = @ -`.
 * Dots are left out on purpose: they separate subject tokens, and `poolshard-<id>.<n>` relies on
 * the pool id having none. Kubernetes uids (UUIDs) fit as they are.
 */
const ID = /^[A-Za-z0-9_:=@-]+$/;
export const MAX_ID_LENGTH = 128;

/** Returns `value` when it is a valid id; throws InvalidId naming `what` otherwise. */
export function assertId(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new DomainError('InvalidId', `${what} is required`);
  }
  if (value.length > MAX_ID_LENGTH) {
    throw new DomainError('InvalidId', `${what} is longer than ${MAX_ID_LENGTH} characters`);
  }
  if (!ID.test(value)) {
    throw new DomainError(
      'InvalidId',
      `${what} ${JSON.stringify(value)} may contain only ASCII letters, digits and _ : = @ -`,
    );
  }
  return value;
}
