/**
 * Every rejected command throws a DomainError. Callers tell failures apart by `code`, which is
 * stable and safe to put on the wire (the services turn it into a typed NATS/HTTP error reply),
 * never by message text or `instanceof` across process boundaries.
 */
export type DomainErrorCode =
  // Malformed input: the command can never succeed as written.
  | 'InvalidId'
  | 'InvalidName'
  | 'InvalidIp'
  | 'InvalidCidr'
  | 'InvalidMac'
  | 'InvalidVni'
  | 'InvalidLabels'
  | 'InvalidPort'
  | 'InvalidUrl'
  | 'InvalidTimestamp'
  | 'InvalidArgument'
  // Conflicts with what the aggregate already holds.
  | 'OverlappingCidr'
  | 'DuplicateVni'
  | 'AddressInUse'
  | 'PoolExhausted'
  | 'IdentitiesExhausted'
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidState';

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
  ) {
    super(message);
  }

  override get name(): string {
    return this.code;
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
