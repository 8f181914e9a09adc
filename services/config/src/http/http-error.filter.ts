import {
  Catch,
  HttpException,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { toErrorBody, type ErrorBody } from '@strata/bus';
import { httpStatusOf } from './http-status';

interface JsonResponse {
  headersSent?: boolean;
  status(code: number): JsonResponse;
  json(body: unknown): unknown;
}

/**
 * Every failure of an HTTP route becomes `{ error: { code, message } }` with the status of its
 * code (./http-status.ts): the same typed errors the NATS replies carry. Nest's own HTTP
 * exceptions (the guard's 401, an unknown route's 404) get a code from their status.
 * Unexpected failures are logged and answered `Internal`, without details.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ConfigHttpApi');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<JsonResponse>();
    const { status, body } = this.toHttpError(exception);
    if (response.headersSent === true) return;
    response.status(status).json({ error: body });
  }

  private toHttpError(exception: unknown): { status: number; body: ErrorBody } {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      return { status, body: { code: codeOfStatus(status), message: exception.message } };
    }
    const { body, expected } = toErrorBody(exception);
    if (!expected) {
      this.logger.error(`unexpected failure: ${(exception as Error)?.stack ?? String(exception)}`);
    }
    return { status: httpStatusOf(body.code), body };
  }
}

function codeOfStatus(status: number): string {
  switch (status) {
    case 401:
      return 'Unauthorized';
    case 404:
      return 'NotFound';
    case 413:
      return 'PayloadTooLarge';
    default:
      return status >= 500 ? 'Internal' : 'InvalidRequest';
  }
}
