import {
  matchesFilter,
  StoreUnavailable,
  type EventStore,
  type ReadAllOptions,
  type RecordedEvent,
} from '@strata/eventstore';
import { ErrorCode, type NatsConnection, type NatsError } from 'nats';
import { decodeBody, encodeJson, isCommandReply, MalformedBody } from '../commands/protocol';
import { LOG_READ_SUBJECT } from '../subjects';
import { parseLogPage, type LogReadRequest } from './wire';

/** What a bus reader needs of the log: reads after a position. A store fits; so does RemoteLog. */
export type LogSource = Pick<EventStore, 'readAll'>;

export interface RemoteLogOptions {
  readonly nc: NatsConnection;
  /** Per page request. Default 5 s. */
  readonly timeoutMs?: number;
  /** Events per page asked for. Default the server's maximum. */
  readonly pageEvents?: number;
}

/**
 * The global log read over NATS (`strata.log.read`, answered by the relays' LogServer), for a
 * process with no store of its own. Reads page by page; every page is validated before its
 * events are handed on (events read back are input like any other). A request that gets no
 * answer, or an error answer from the store, is StoreUnavailable — what a BusReader retries.
 * Only position ranges and filters are supported (`untilTime` needs the store itself).
 */
export class RemoteLog implements LogSource {
  readonly adapter = 'remote';
  readonly stats = { pages: 0, events: 0 };

  constructor(private readonly options: RemoteLogOptions) {}

  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<RecordedEvent> {
    if (options.untilTime !== undefined) {
      throw new TypeError('RemoteLog reads by position only; untilTime needs the store');
    }
    let after = options.after ?? 0;
    let remaining = options.maxCount ?? Infinity;
    while (remaining > 0) {
      const request: LogReadRequest = {
        after,
        ...(options.untilPosition === undefined ? {} : { until: options.untilPosition }),
        ...(this.options.pageEvents === undefined ? {} : { maxEvents: this.options.pageEvents }),
      };
      const page = await this.fetch(request);
      this.stats.pages++;
      for (const event of page.events) {
        this.stats.events++;
        if (!matchesFilter(options.filter, event.stream, event.type)) continue;
        yield event;
        if (--remaining === 0) return;
      }
      if (page.end || page.last === after) return;
      after = page.last;
    }
  }

  private async fetch(request: LogReadRequest) {
    let reply;
    try {
      reply = await this.options.nc.request(LOG_READ_SUBJECT, encodeJson(request), {
        timeout: this.options.timeoutMs ?? 5_000,
      });
    } catch (error) {
      const code = (error as NatsError).code;
      const why =
        code === ErrorCode.NoResponders
          ? 'no log server answers strata.log.read'
          : code === ErrorCode.Timeout
            ? 'a log read timed out'
            : `a log read failed: ${(error as Error).message}`;
      throw new StoreUnavailable(this.adapter, why, { cause: error });
    }
    const body = decodeBody(reply.data);
    if (body instanceof MalformedBody || !isCommandReply(body)) {
      throw new StoreUnavailable(this.adapter, 'a log server sent a reply that is not a page');
    }
    if (!body.ok) {
      throw new StoreUnavailable(this.adapter, `${body.error.code}: ${body.error.message}`);
    }
    try {
      return parseLogPage(body.data, request);
    } catch (error) {
      throw new StoreUnavailable(
        this.adapter,
        `a log server sent an invalid page: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}
