import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import { StoreUnavailable } from '../errors';
import { ADAPTER } from './codec';

/** JetStream's answer to one publish. */
export type PublishAck =
  | { readonly ok: true; readonly seq: number; readonly duplicate: boolean }
  /** Refused by the stream; `code` is JetStream's err_code (e.g. 10071 wrong last sequence). */
  | { readonly ok: false; readonly code: number; readonly description: string };

interface Waiter {
  readonly resolve: (ack: PublishAck) => void;
  readonly reject: (error: StoreUnavailable) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Publishes to JetStream and collects the acks on one wildcard inbox subscription, so many
 * publishes can be in flight at once. The nats client's `js.publish` does the same per request
 * but allocates Errors for async stack traces on every call, which made it most of an append's
 * CPU cost. Transport failures (timeout, no responders, closed connection) reject with
 * StoreUnavailable; refusals by the stream resolve with `ok: false`.
 */
export class Publisher {
  private readonly inbox = createInbox();
  private readonly waiting = new Map<string, Waiter>();
  private readonly subscription: Subscription;
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.subscription = nc.subscribe(`${this.inbox}.*`, {
      callback: (error, msg) => {
        if (error === null) {
          this.settle(msg);
        }
      },
    });
  }

  publish(subject: string, body: Uint8Array | undefined, headers: MsgHdrs): Promise<PublishAck> {
    const token = String(this.next++);
    return new Promise<PublishAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(
          new StoreUnavailable(
            ADAPTER,
            `no ack for a publish to ${subject} within ${this.timeoutMs} ms`,
          ),
        );
      }, this.timeoutMs);
      this.waiting.set(token, { resolve, reject, timer });
      try {
        this.nc.publish(subject, body, { reply: `${this.inbox}.${token}`, headers });
      } catch (error) {
        clearTimeout(timer);
        this.waiting.delete(token);
        reject(
          new StoreUnavailable(ADAPTER, `publish to ${subject}: ${(error as Error).message}`, {
            cause: error,
          }),
        );
      }
    });
  }

  /** Fails every publish still waiting and stops listening. */
  close(): void {
    this.subscription.unsubscribe();
    for (const [token, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      this.waiting.delete(token);
      waiter.reject(new StoreUnavailable(ADAPTER, 'the store was closed with a publish in flight'));
    }
  }

  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const waiter = this.waiting.get(token);
    if (waiter === undefined) {
      return; // timed out already
    }
    this.waiting.delete(token);
    clearTimeout(waiter.timer);
    const status = msg.headers?.code ?? 0;
    if (status === 503) {
      waiter.reject(
        new StoreUnavailable(ADAPTER, 'no JetStream responder (stream unavailable or leaderless)'),
      );
      return;
    }
    try {
      waiter.resolve(parseAck(msg.data));
    } catch (error) {
      waiter.reject(
        new StoreUnavailable(ADAPTER, `unreadable publish ack: ${(error as Error).message}`),
      );
    }
  }
}

interface AckBody {
  readonly seq?: unknown;
  readonly duplicate?: unknown;
  readonly error?: {
    readonly err_code?: unknown;
    readonly code?: unknown;
    readonly description?: unknown;
  };
}

const decoder = new TextDecoder();

function parseAck(data: Uint8Array): PublishAck {
  const body = JSON.parse(decoder.decode(data)) as AckBody;
  if (body.error !== undefined) {
    const code =
      typeof body.error.err_code === 'number' ? body.error.err_code : Number(body.error.code);
    return { ok: false, code, description: String(body.error.description ?? '') };
  }
  if (typeof body.seq !== 'number' || !Number.isSafeInteger(body.seq)) {
    throw new Error('no sequence in the ack');
  }
  return { ok: true, seq: body.seq, duplicate: body.duplicate === true };
}
