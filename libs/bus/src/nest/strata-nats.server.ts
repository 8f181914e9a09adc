import { Logger } from '@nestjs/common';
import { ServerNats, type NatsContext } from '@nestjs/microservices';
import type { Msg } from 'nats';
import {
  decodeBody,
  encodeJson,
  errorReply,
  okReply,
  type CommandReply,
} from '../commands/protocol';
import { FinalReply } from './command-reply.filter';

/**
 * NestJS's NATS transport, speaking Strata's command protocol (../commands/protocol.ts)
 * instead of Nest's own wire format.
 *
 * Nest's format wraps requests as `{pattern, data, id}` and replies as
 * `{response, err, isDisposed, id}`, which only Nest's ClientProxy speaks. Strata's bodies are
 * plain JSON, so any NATS client can call a service. This server:
 * - decodes a request body itself and never throws doing so: bytes that are not JSON reach the
 *   handler's pipe as a MalformedBody, which replies MalformedPayload (Nest's own deserializer
 *   throws inside the message callback, an unhandled rejection that ends the process);
 * - answers once: a handler's data as `{ ok: true, data }`, an error (turned into a FinalReply
 *   by CommandReplyFilter) as `{ ok: false, error }` (Nest sends a second "disposed" packet after
 *   each response; a plain request has already taken the first message, so it is dropped);
 * - ignores messages without a reply subject: a command nobody waits for gets no answer and is
 *   not run;
 * - never lets a failure to reply (connection closing) escape as an unhandled rejection.
 * Subscriptions use Nest's `queue` option: every replica joins one queue group per subject, so
 * NATS hands each request to one replica (commands only; events never go through here).
 */
export class StrataNatsServer extends ServerNats {
  private readonly strataLogger = new Logger('StrataNatsServer');
  /** Replies encoded this turn, sent together by `sendReplies`. */
  private pendingReplies: { msg: Msg; bytes: Uint8Array }[] = [];

  constructor(options: ConstructorParameters<typeof ServerNats>[0]) {
    super({
      ...options,
      deserializer: {
        deserialize: (value: Uint8Array, context?: Record<string, unknown>) => ({
          pattern: context?.channel,
          data: decodeBody(value),
          id: context?.replyTo,
        }),
      },
    });
  }

  override async handleMessage(channel: string, natsMsg: Msg): Promise<void> {
    if (!natsMsg.reply) {
      return;
    }
    try {
      await super.handleMessage(channel, natsMsg);
    } catch (error) {
      this.strataLogger.error(`failed handling ${channel}: ${(error as Error)?.stack ?? error}`);
      this.respond(
        natsMsg,
        errorReply('Internal', 'internal error; the service logged the details'),
      );
    }
  }

  /**
   * Command subjects are plain strings. Nest's version first tries JSON.parse on every subject
   * (for object patterns), which throws and catches once per request.
   */
  protected override getRouteFromPattern(pattern: string): string {
    return pattern;
  }

  override getPublisher(
    natsMsg: Msg,
    _id: string,
    context: NatsContext,
  ): (packet: { response?: unknown; err?: unknown; isDisposed?: boolean }) => void {
    return (packet) => {
      if (packet.response instanceof FinalReply) {
        this.respond(natsMsg, packet.response.reply);
      } else if ('response' in packet) {
        this.respond(natsMsg, okReply(packet.response ?? null));
      } else if (packet.err !== undefined) {
        // Only reached when something bypassed the reply filter (Nest's "no handler" packet).
        const message = packet.err instanceof Error ? packet.err.message : String(packet.err);
        this.respond(natsMsg, errorReply('Internal', message));
      } else {
        return;
      }
      this.onProcessingEndHook?.(this.transportId, context);
    };
  }

  private respond(natsMsg: Msg, reply: CommandReply<unknown>): void {
    let bytes: Uint8Array;
    try {
      bytes = encodeJson(reply);
    } catch (error) {
      this.strataLogger.error(
        `reply on ${natsMsg.subject} is not JSON: ${(error as Error).message}`,
      );
      bytes = encodeJson(errorReply('Internal', 'internal error; the service logged the details'));
    }
    // The replies to one group commit become ready together, each at the end of its own chain
    // of promises. The NATS client writes its buffer to the socket in a microtask after the
    // first publish, which lands between those chains: about one write syscall per reply (12%
    // of an IPAM replica's CPU). A tick runs once every pending microtask has, so the replies of
    // the turn are published together and leave in one write.
    if (this.pendingReplies.push({ msg: natsMsg, bytes }) === 1) {
      process.nextTick(() => this.sendReplies());
    }
  }

  private sendReplies(): void {
    const replies = this.pendingReplies;
    this.pendingReplies = [];
    for (const { msg, bytes } of replies) {
      try {
        msg.respond(bytes);
      } catch (error) {
        this.strataLogger.warn(`could not reply on ${msg.subject}: ${(error as Error).message}`);
      }
    }
  }
}
