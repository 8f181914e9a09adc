import { StoreUnavailable, type EventStore } from '@strata/eventstore';
import type { Msg, NatsConnection, Subscription } from 'nats';
import { decodeBody, encodeJson, errorReply, MalformedBody, okReply } from '../commands/protocol';
import { ValidationError } from '../commands/schema';
import { LOG_READ_SUBJECT } from '../subjects';
import {
  logReadRequest,
  MAX_PAGE_BYTES,
  MAX_PAGE_EVENTS,
  toWireEvent,
  type LogPage,
  type WireEvent,
} from './wire';

/** The queue group log readers share: each request is answered by one of them. */
export const LOG_READ_QUEUE = 'strata-log';

export interface LogServerOptions {
  readonly nc: NatsConnection;
  readonly store: Pick<EventStore, 'readAll'>;
  /** Problems it survives (a store error answered as StoreUnavailable, a bad request). */
  readonly onWarning?: (error: Error) => void;
}

/**
 * Answers `strata.log.read` from a store: the way a process without a store of its own (a node
 * agent) reads the events the bus lost or that happened while it was away. Pages are bounded in
 * events and bytes; each request is answered on its own, so a slow read delays only its asker.
 */
export class LogServer {
  private readonly subscription: Subscription;
  private readonly inFlight = new Set<Promise<void>>();
  readonly stats = { requests: 0, events: 0, errors: 0 };

  private constructor(private readonly options: LogServerOptions) {
    this.subscription = options.nc.subscribe(LOG_READ_SUBJECT, {
      queue: LOG_READ_QUEUE,
      callback: (error, msg) => {
        if (error !== null) return; // the subscription is closing
        const reply = this.answer(msg).finally(() => this.inFlight.delete(reply));
        this.inFlight.add(reply);
      },
    });
  }

  static async start(options: LogServerOptions): Promise<LogServer> {
    const server = new LogServer(options);
    await options.nc.flush(); // the server has our interest before anyone is told we serve
    return server;
  }

  /** Stops taking requests and waits for the ones in progress to be answered. */
  async close(): Promise<void> {
    this.subscription.unsubscribe();
    await Promise.allSettled([...this.inFlight]);
  }

  private async answer(msg: Msg): Promise<void> {
    this.stats.requests++;
    try {
      const page = await this.read(decodeBody(msg.data));
      this.stats.events += page.events.length;
      msg.respond(encodeJson(okReply(page)));
    } catch (error) {
      this.stats.errors++;
      const { code, message } = describe(error);
      if (code === 'StoreUnavailable') this.options.onWarning?.(error as Error);
      msg.respond(encodeJson(errorReply(code, message)));
    }
  }

  private async read(body: unknown): Promise<LogPage> {
    if (body instanceof MalformedBody) {
      throw new ValidationError('MalformedPayload', body.reason, '');
    }
    const request = logReadRequest.parse(body, '');
    const maxEvents = request.maxEvents ?? MAX_PAGE_EVENTS;
    const events: WireEvent[] = [];
    let bytes = 0;
    let last = request.after;
    for await (const event of this.options.store.readAll({
      after: request.after,
      ...(request.until === undefined ? {} : { untilPosition: request.until }),
      maxCount: maxEvents + 1, // one more tells whether the range goes on
    })) {
      if (events.length === maxEvents || (events.length > 0 && bytes >= MAX_PAGE_BYTES)) {
        return { events, last, end: false };
      }
      const wire = toWireEvent(event);
      bytes += JSON.stringify(wire.data).length + 256;
      events.push(wire);
      last = event.position;
    }
    return { events, last, end: true };
  }
}

function describe(error: unknown): { code: string; message: string } {
  if (error instanceof ValidationError) return { code: error.code, message: error.message };
  if (error instanceof StoreUnavailable) return { code: error.code, message: error.message };
  return { code: 'Internal', message: `log read failed: ${(error as Error).message}` };
}
