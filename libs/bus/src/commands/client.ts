import { randomUUID } from 'node:crypto';
import { ErrorCode, type NatsConnection, type NatsError } from 'nats';
import {
  encodeJson,
  isCommandReply,
  type CommandReply,
  type CommandSpec,
  type ErrorBody,
} from './protocol';

/**
 * A typed client for the command protocol (./protocol.ts) over a plain `nats` connection:
 * what the CLI, the tests and the benchmarks use to call services.
 *
 * `call` resolves with the reply as sent (`{ok: true, data}` or `{ok: false, error}`) and
 * throws only when no reply came: CommandTimeout or NoResponders, both CommandTransportError.
 * With `retries`, those are retried with the *same* command id, so a request whose replica died
 * before answering is answered by another replica without applying twice. `execute` returns
 * the data of a successful reply and throws CommandFailed with the error's code otherwise.
 */

export interface CallOptions {
  /** Default: a fresh random id, i.e. a new intent. Pass the same id to retry an intent. */
  readonly commandId?: string;
  readonly correlationId?: string;
  readonly actor?: string;
  /** Per attempt. Default: the client's (5 s unless configured). */
  readonly timeoutMs?: number;
  /** Further attempts after a timeout or no responders. Default 0. */
  readonly retries?: number;
}

export interface CommandClientOptions {
  readonly actor?: string;
  readonly timeoutMs?: number;
}

/** A request that got no reply. The command may or may not have been applied: retry it. */
export class CommandTransportError extends Error {
  constructor(
    readonly code: 'Timeout' | 'NoResponders' | 'BadReply',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  override get name(): string {
    return this.code;
  }
}

/** A reply with `ok: false`, as an exception (from `execute`). */
export class CommandFailed extends Error {
  readonly code: string;
  constructor(
    readonly subject: string,
    error: ErrorBody,
  ) {
    super(`${subject}: ${error.code}: ${error.message}`);
    this.code = error.code;
  }

  override get name(): string {
    return this.code;
  }
}

export class CommandClient {
  private readonly actor: string | undefined;
  private readonly timeoutMs: number;

  constructor(
    readonly connection: NatsConnection,
    options: CommandClientOptions = {},
  ) {
    this.actor = options.actor;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  async call<Request, Reply>(
    spec: CommandSpec<Request, Reply>,
    data: Request,
    options: CallOptions = {},
  ): Promise<CommandReply<Reply>> {
    const body = encodeJson({
      commandId: options.commandId ?? randomUUID(),
      ...((options.actor ?? this.actor) ? { actor: options.actor ?? this.actor } : {}),
      ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
      data,
    });
    const reply = await this.send(spec.subject, body, options);
    if (!isCommandReply(reply)) {
      throw new CommandTransportError(
        'BadReply',
        `${spec.subject}: the reply is not { ok, data } or { ok, error }`,
      );
    }
    return reply as CommandReply<Reply>;
  }

  /** The data of a successful reply; throws CommandFailed for an error reply. */
  async execute<Request, Reply>(
    spec: CommandSpec<Request, Reply>,
    data: Request,
    options: CallOptions = {},
  ): Promise<Reply> {
    const reply = await this.call(spec, data, options);
    if (!reply.ok) {
      throw new CommandFailed(spec.subject, reply.error);
    }
    return reply.data;
  }

  /**
   * Sends `payload` as it is (bytes, or a string as UTF-8) and returns the decoded reply:
   * for probing a service with malformed requests.
   */
  async raw(
    subject: string,
    payload: Uint8Array | string,
    options: Pick<CallOptions, 'timeoutMs'> = {},
  ): Promise<unknown> {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    return this.send(subject, bytes, { ...options, retries: 0 });
  }

  private async send(subject: string, body: Uint8Array, options: CallOptions): Promise<unknown> {
    const timeout = options.timeoutMs ?? this.timeoutMs;
    const attempts = 1 + (options.retries ?? 0);
    // Requests made in one turn (a batch of replies each answered with the next request) are
    // published after every pending microtask has run, so the NATS client sends them in one
    // write instead of one each (it flushes in a microtask after the first publish).
    await new Promise<void>((resolve) => process.nextTick(resolve));
    for (let attempt = 1; ; attempt++) {
      try {
        const message = await this.connection.request(subject, body, { timeout });
        return JSON.parse(Buffer.from(message.data).toString('utf8')) as unknown;
      } catch (error) {
        const transport = transportError(subject, error, timeout);
        if (transport === undefined) throw error;
        if (attempt >= attempts || transport.code === 'BadReply') throw transport;
        if (transport.code === 'NoResponders') {
          // Nobody is subscribed right now (a replica restarting): give it a moment.
          await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500)));
        }
      }
    }
  }
}

function transportError(
  subject: string,
  error: unknown,
  timeout: number,
): CommandTransportError | undefined {
  if (error instanceof SyntaxError) {
    return new CommandTransportError('BadReply', `${subject}: the reply is not JSON`, {
      cause: error,
    });
  }
  const code = (error as Partial<NatsError>).code;
  if (code === ErrorCode.Timeout) {
    return new CommandTransportError('Timeout', `${subject}: no reply within ${timeout} ms`, {
      cause: error,
    });
  }
  if (code === ErrorCode.NoResponders) {
    return new CommandTransportError('NoResponders', `${subject}: no service is listening`, {
      cause: error,
    });
  }
  return undefined;
}
