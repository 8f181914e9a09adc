/**
 * The HTTP status of each error code (the body is always `{ error: { code, message } }`):
 *
 * | code                                                               | status |
 * | ------------------------------------------------------------------ | ------ |
 * | MalformedPayload, InvalidRequest, UnknownField, Invalid* (but InvalidState) | 400 |
 * | Unauthorized (no or wrong bearer token)                            | 401    |
 * | NotFound (an aggregate, a pool, or a route)                        | 404    |
 * | AlreadyExists, OverlappingCidr, DuplicateVni, AddressInUse, InvalidState, |  |
 * | PoolExhausted, IdentitiesExhausted, WrongExpectedRevision, DuplicateEventId, |   |
 * | DuplicateCommand                                                   | 409    |
 * | EventTooLarge, PayloadTooLarge                                     | 413    |
 * | BadReply (IPAM answered something that is not a reply)             | 502    |
 * | StoreUnavailable, Timeout, NoResponders (IPAM or policy not answering) | 503  |
 * | anything else (Internal)                                           | 500    |
 *
 * PoolExhausted is 409, not 507: nothing is wrong with the server's storage; the request
 * conflicts with the pool's current state and succeeds once something is released.
 * InvalidState is 409 too: the request is well-formed but the aggregate's state forbids it
 * (an external endpoint cannot move; a segment with endpoints cannot be deleted).
 */
const BY_CODE: Readonly<Record<string, number>> = {
  MalformedPayload: 400,
  InvalidRequest: 400,
  UnknownField: 400,
  Unauthorized: 401,
  NotFound: 404,
  AlreadyExists: 409,
  OverlappingCidr: 409,
  DuplicateVni: 409,
  AddressInUse: 409,
  InvalidState: 409,
  PoolExhausted: 409,
  IdentitiesExhausted: 409,
  WrongExpectedRevision: 409,
  DuplicateEventId: 409,
  DuplicateCommand: 409,
  EventTooLarge: 413,
  PayloadTooLarge: 413,
  BadReply: 502,
  StoreUnavailable: 503,
  Timeout: 503,
  NoResponders: 503,
};

export function httpStatusOf(code: string): number {
  return BY_CODE[code] ?? (code.startsWith('Invalid') ? 400 : 500);
}
