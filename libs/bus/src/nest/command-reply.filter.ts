import { Catch, Logger, type ArgumentsHost, type RpcExceptionFilter } from '@nestjs/common';
import { of, type Observable } from 'rxjs';
import { errorReply, type CommandReply } from '../commands/protocol';
import { toErrorBody } from './errors';

/**
 * A reply already in its final `{ok, ...}` form. Handlers return bare data, which the transport
 * wraps as `{ ok: true, data }`; what the filter makes is sent as it is.
 */
export class FinalReply {
  constructor(readonly reply: CommandReply<unknown>) {}
}

/**
 * Every exception a command handler (or its pipe) throws becomes the typed reply
 * `{ ok: false, error: { code, message } }`, sent as a normal reply: nothing a message contains
 * can crash the service or leave the caller waiting for a timeout.
 */
@Catch()
export class CommandReplyFilter implements RpcExceptionFilter<unknown> {
  private readonly logger = new Logger('CommandReplyFilter');

  catch(exception: unknown, host: ArgumentsHost): Observable<FinalReply> {
    const { body, expected } = toErrorBody(exception);
    if (!expected) {
      const subject = host.switchToRpc().getContext<{ getSubject?: () => string }>();
      this.logger.error(
        `unexpected failure on ${subject.getSubject?.() ?? 'a command'}: ${
          (exception as Error)?.stack ?? String(exception)
        }`,
      );
    }
    return of(new FinalReply(errorReply(body.code, body.message)));
  }
}
