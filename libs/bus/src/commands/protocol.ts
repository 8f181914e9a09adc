import { object, optional, refine, string, ValidationError, type Schema } from './schema';

/**
 * The command protocol every Strata service speaks over NATS request/reply.
 *
 * Subjects are `strata.<service>.<aggregate>.<verb>` (`strata.ipam.address.allocate`). The
 * request body is JSON:
 *
 *   { "commandId": "...", "actor": "user:alice", "correlationId": "...", "data": { ... } }
 *
 * `commandId` is required and names the intent: a retry of the same intent (after a timeout,
 * at another replica) reuses it, and the events it produces get ids derived from it, so a retry
 * never applies twice. `actor` and `correlationId` are optional (the correlation id defaults to
 * the command id). The reply is JSON too, and is exactly one of
 *
 *   { "ok": true, "data": { ... } }
 *   { "ok": false, "error": { "code": "PoolExhausted", "message": "..." } }
 *
 * Codes are stable (DomainError, EventStoreError and ValidationError codes, plus Internal);
 * messages are for people. Bodies are plain JSON, not NestJS's `{pattern, data, id}` wrapping:
 * any NATS client (the CLI, `nats req`, another language) can call a service.
 */

export interface CommandRequest<Data> {
  readonly commandId: string;
  readonly actor: string;
  readonly correlationId: string;
  readonly data: Data;
}

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
}

export type CommandReply<Data> =
  { readonly ok: true; readonly data: Data } | { readonly ok: false; readonly error: ErrorBody };

/** One command or query of a service's contract: its subject and the schema of its `data`. */
export interface CommandSpec<Request, Reply> {
  readonly subject: string;
  readonly request: Schema<Request>;
  /** Phantom: carries the reply type for typed clients; never set. */
  readonly reply?: Reply;
}

/** `subject` comes from `commandSubject(service, aggregate, verb)` (../subjects.ts). */
export function commandSpec<Request, Reply>(
  subject: string,
  request: Schema<Request>,
): CommandSpec<Request, Reply> {
  return { subject, request };
}

export type RequestOf<S> = S extends CommandSpec<infer Request, unknown> ? Request : never;
export type ReplyOf<S> = S extends CommandSpec<unknown, infer Reply> ? Reply : never;

/** Ids and metadata: printable ASCII without spaces (they end up in event envelopes). */
const PRINTABLE = /^[\x21-\x7e]+$/;
export const MAX_COMMAND_ID_LENGTH = 128;

function printable(what: string, maxLength: number) {
  return refine(string({ minLength: 1, maxLength }), (value, path) => {
    if (!PRINTABLE.test(value)) {
      throw new ValidationError(
        'InvalidRequest',
        `${path} must be printable ASCII without spaces (${what})`,
        path,
      );
    }
    return value;
  });
}

const envelope = {
  commandId: printable('names the intent; a retry reuses it', MAX_COMMAND_ID_LENGTH),
  actor: optional(refine(string({ maxLength: 128 }), (value) => value)),
  correlationId: optional(printable('ties the events of one change together', 128)),
};

/** What a transport hands over when the bytes were not a JSON document. */
export class MalformedBody {
  constructor(readonly reason: string) {}
}

/** Decodes a request body; never throws (a bad body becomes a MalformedBody). */
export function decodeBody(bytes: Uint8Array): unknown {
  if (bytes.length === 0) {
    return new MalformedBody('the request body is empty; expected a JSON object');
  }
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch (error) {
    return new MalformedBody(`the request body is not JSON: ${(error as Error).message}`);
  }
}

/** Validates a decoded body as the envelope around `spec`'s data; throws ValidationError. */
export function parseCommand<Request>(
  spec: Pick<CommandSpec<Request, unknown>, 'request'>,
  body: unknown,
): CommandRequest<Request> {
  if (body instanceof MalformedBody) {
    throw new ValidationError('MalformedPayload', body.reason, '');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError(
      'MalformedPayload',
      'the request body must be a JSON object { commandId, actor?, correlationId?, data }',
      '',
    );
  }
  const parsed = object({ ...envelope, data: spec.request as Schema<unknown> }).parse(body, '');
  return {
    commandId: parsed.commandId,
    actor: parsed.actor ?? '',
    correlationId: parsed.correlationId ?? parsed.commandId,
    data: parsed.data as Request,
  };
}

export function encodeJson(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function okReply<Data>(data: Data): CommandReply<Data> {
  return { ok: true, data };
}

export function errorReply(code: string, message: string): CommandReply<never> {
  return { ok: false, error: { code, message } };
}

/** Is `value` shaped like a reply? (A client checks what it got back before trusting it.) */
export function isCommandReply(value: unknown): value is CommandReply<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const reply = value as { ok?: unknown; error?: { code?: unknown; message?: unknown } };
  if (reply.ok === true) return 'data' in reply;
  return (
    reply.ok === false &&
    typeof reply.error === 'object' &&
    reply.error !== null &&
    typeof reply.error.code === 'string' &&
    typeof reply.error.message === 'string'
  );
}

/**
 * A rejection a service decides itself, outside any aggregate (a command id reused for a
 * different intent, say): thrown by handlers, replied with its code like a DomainError.
 */
export class CommandRejected extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  override get name(): string {
    return this.code;
  }
}
