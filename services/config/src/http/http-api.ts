import type { AddressInfo } from 'node:net';
import { Module, type INestApplication, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DeciderRunner } from '@strata/eventstore';
import { EVENT_STORE } from '@strata/bus';
import { CONFIG_HANDLERS, CONFIG_SHARED_PROVIDERS } from '../config.module';
import { commandRoutes } from '../transport/command-route';
import { ApiTokenGuard } from './api-token.guard';
import { HttpErrorFilter } from './http-error.filter';
import { httpStatusOf } from './http-status';
import { buildOpenApiDocument } from './openapi';
import { OPENAPI_DOCUMENT, OpenApiController } from './openapi.controller';

export interface HttpApiOptions {
  /** 0 picks a free port. */
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** The bearer token every request but the OpenAPI document must carry. */
  readonly token: string;
  /** Largest request body. Default 1 MiB. */
  readonly bodyLimitBytes?: number;
  readonly logger?: LoggerService | LogLevel[] | false;
}

export interface HttpApi {
  readonly app: INestApplication;
  /** `http://host:port`. */
  readonly url: string;
  close(): Promise<void>;
}

type Get = (token: unknown) => unknown;

/**
 * The REST API, served beside the NATS service by the same handler classes: a Nest HTTP app
 * whose controllers are CONFIG_HANDLERS and whose providers are the NATS service's own instances
 * (`get` takes them from its container), so both transports share one read model, one lock and
 * one DeciderRunner. (A Nest "hybrid" app would do the same in one container, but would start
 * the NATS transport differently from every other Strata service; createStrataService stays the
 * one way services start.)
 *
 * Bodies are read raw (any content type, up to the limit) and decoded by the command protocol's
 * own decoder, so malformed JSON is MalformedPayload over HTTP exactly as over NATS.
 */
export async function startHttpApi(get: Get, options: HttpApiOptions): Promise<HttpApi> {
  const routes = commandRoutes(CONFIG_HANDLERS);
  const document = buildOpenApiDocument(routes, { title: 'Strata config API', version: '1' });

  @Module({
    controllers: [...CONFIG_HANDLERS, OpenApiController],
    providers: [
      ...[DeciderRunner, EVENT_STORE, ...CONFIG_SHARED_PROVIDERS].map((token) => ({
        provide: token,
        useValue: get(token),
      })),
      { provide: OPENAPI_DOCUMENT, useValue: document },
    ],
  })
  class ConfigHttpModule {}

  const app = await NestFactory.create<NestExpressApplication>(ConfigHttpModule, {
    bodyParser: false,
    logger: options.logger ?? ['error', 'warn'],
    abortOnError: false,
  });
  app.disable('x-powered-by');
  app.useBodyParser('raw', { type: () => true, limit: options.bodyLimitBytes ?? 1 << 20 });
  app.use(bodyErrorHandler);
  app.useGlobalGuards(new ApiTokenGuard(options.token));
  app.useGlobalFilters(new HttpErrorFilter());
  await app.listen(options.port, options.host ?? '127.0.0.1');
  const address = app.getHttpServer().address() as AddressInfo;
  const url = `http://${options.host ?? '127.0.0.1'}:${address.port}`;
  return { app, url, close: () => app.close() };
}

interface ParserError {
  readonly status?: number;
  readonly type?: string;
  readonly message?: string;
}

interface MinimalResponse {
  headersSent: boolean;
  status(code: number): { json(body: unknown): unknown };
}

/**
 * Errors of the body reader (too large, a broken encoding) as typed JSON errors: Express's
 * default handler would answer them in HTML. (Four parameters: Express's error-handler form.)
 */
function bodyErrorHandler(
  error: ParserError,
  _request: unknown,
  response: MinimalResponse,
  next: (error?: unknown) => void,
): void {
  if (response.headersSent) {
    next(error);
    return;
  }
  const code = error.type === 'entity.too.large' ? 'PayloadTooLarge' : 'MalformedPayload';
  response.status(httpStatusOf(code)).json({
    error: { code, message: `the request body cannot be read: ${error.message ?? error.type}` },
  });
}
