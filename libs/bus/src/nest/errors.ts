import { DomainError } from '@strata/domain';
import { EventStoreError } from '@strata/eventstore';
import { CommandFailed, CommandTransportError } from '../commands/client';
import { CommandRejected, type ErrorBody } from '../commands/protocol';
import { ValidationError } from '../commands/schema';

/**
 * The typed error a failure becomes on the wire. Errors that carry a stable code (validation,
 * domain, event store, a failed call to another service) keep it and their message. Anything
 * else is a bug or an unexpected failure underneath: it becomes `Internal` with a generic
 * message (the details go to the service's log, not to the caller), and `expected` is false.
 */
export function toErrorBody(error: unknown): { body: ErrorBody; expected: boolean } {
  if (
    error instanceof ValidationError ||
    error instanceof DomainError ||
    error instanceof CommandRejected ||
    error instanceof EventStoreError ||
    error instanceof CommandFailed ||
    error instanceof CommandTransportError
  ) {
    return { body: { code: error.code, message: error.message }, expected: true };
  }
  return {
    body: { code: 'Internal', message: 'internal error; the service logged the details' },
    expected: false,
  };
}
