import { randomUUID } from 'node:crypto';
import {
  applyDecorators,
  createParamDecorator,
  HttpCode,
  RequestMapping,
  RequestMethod,
  SetMetadata,
  type ExecutionContext,
} from '@nestjs/common';
import {
  CommandHandler,
  decodeBody,
  MalformedBody,
  parseCommand,
  ValidationError,
  type CommandRequest,
  type ConfigCommandSpec,
} from '@strata/bus';

/**
 * One use case, two transports. A handler method is bound to its NATS subject and to its REST
 * route by one decorator, and receives the same validated `CommandRequest` from either:
 *
 *   @CommandRoute(CONFIG.createSegment, { method: 'POST', path: '/v1/segments', status: 201 })
 *   handle(@CommandInput() request: CommandRequest<CreateSegmentRequest>) { ... }
 *
 * Over NATS the body is the protocol's envelope `{commandId, actor?, correlationId?, data}`.
 * Over HTTP, `data` is the path parameters, the query string and the JSON body merged into one
 * object (a field may come from one of them only), validated by the same schema; the envelope
 * comes from headers:
 * - `Idempotency-Key` is the command id of a POST, PUT or DELETE: send one to retry safely. When
 *   absent, the service generates one. Either way it is echoed in the response's
 *   `Idempotency-Key` header. GETs are queries and take none.
 * - `X-Correlation-Id` (optional) ties the events of one change together; default: the command id.
 * - The actor is `http`: every caller holds the same API token.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface HttpRoute {
  readonly method: HttpMethod;
  /** Express syntax, with parameters named like the request fields: `/v1/segments/:segmentId`. */
  readonly path: string;
  /** Status of a successful reply. Default 200. */
  readonly status?: number;
  /** One line for the OpenAPI document. */
  readonly summary: string;
}

export interface CommandRouteMetadata extends HttpRoute {
  readonly spec: ConfigCommandSpec<unknown, unknown>;
}

const ROUTE_METADATA = 'strata:config:command-route';
export const HTTP_ACTOR = 'http';
export const IDEMPOTENCY_KEY = 'Idempotency-Key';
export const CORRELATION_ID = 'X-Correlation-Id';

/** Binds a handler method to `spec`'s NATS subject and to an HTTP route. */
export function CommandRoute<Request, Reply>(
  spec: ConfigCommandSpec<Request, Reply>,
  route: HttpRoute,
): MethodDecorator {
  const metadata: CommandRouteMetadata = {
    ...route,
    spec: spec as ConfigCommandSpec<unknown, unknown>,
  };
  return applyDecorators(
    CommandHandler(spec),
    RequestMapping({ path: route.path, method: RequestMethod[route.method] }),
    HttpCode(route.status ?? 200),
    SetMetadata(ROUTE_METADATA, metadata),
  );
}

/** The route metadata of every `@CommandRoute` method of `handlers`. */
export function commandRoutes(handlers: readonly (new (...args: never[]) => unknown)[]) {
  return handlers.flatMap((handler) =>
    Object.getOwnPropertyNames(handler.prototype).flatMap((name) => {
      const method: unknown = (handler.prototype as Record<string, unknown>)[name];
      const route =
        typeof method === 'function'
          ? (Reflect.getMetadata(ROUTE_METADATA, method) as CommandRouteMetadata | undefined)
          : undefined;
      return route === undefined ? [] : [route];
    }),
  );
}

/** The validated request of the `@CommandRoute` method it decorates, from NATS or HTTP. */
export const CommandInput = createParamDecorator(
  (_data: unknown, context: ExecutionContext): CommandRequest<unknown> => {
    const route = Reflect.getMetadata(ROUTE_METADATA, context.getHandler()) as
      CommandRouteMetadata | undefined;
    if (route === undefined) {
      throw new TypeError('@CommandInput() is only for @CommandRoute() methods');
    }
    if (context.getType() === 'http') {
      const http = context.switchToHttp();
      return httpCommand(route, http.getRequest<HttpRequest>(), http.getResponse<HttpResponse>());
    }
    return parseCommand(route.spec, context.switchToRpc().getData());
  },
);

/** What the handler needs of Express's request and response. */
export interface HttpRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, unknown>>;
  /** The raw body (the service parses bodies itself); undefined when there is none. */
  readonly body?: unknown;
}

export interface HttpResponse {
  setHeader(name: string, value: string): unknown;
}

const PRINTABLE_ID = /^[\x21-\x7e]{1,128}$/;

function httpCommand(
  route: CommandRouteMetadata,
  request: HttpRequest,
  response: HttpResponse,
): CommandRequest<unknown> {
  const isCommand = route.method !== 'GET';
  const commandId = isCommand ? (header(request, IDEMPOTENCY_KEY) ?? randomUUID()) : randomUUID();
  if (isCommand) response.setHeader(IDEMPOTENCY_KEY, commandId);
  const correlationId = header(request, CORRELATION_ID);
  if (correlationId !== undefined) response.setHeader(CORRELATION_ID, correlationId);
  const data = mergeSources([
    ['path', { ...request.params }],
    ['query', { ...request.query }],
    ['body', jsonBody(request.body)],
  ]);
  return {
    commandId,
    actor: HTTP_ACTOR,
    correlationId: correlationId ?? commandId,
    data: route.spec.request.parse(data, ''),
  };
}

/** A header given at most once, printable ASCII without spaces, 1-128 characters. */
function header(request: HttpRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !PRINTABLE_ID.test(value)) {
    throw new ValidationError(
      'InvalidRequest',
      `the ${name} header must be given once, as 1-128 printable ASCII characters without spaces`,
      name,
    );
  }
  return value;
}

function jsonBody(body: unknown): Record<string, unknown> {
  if (!Buffer.isBuffer(body) || body.length === 0) return {};
  const decoded = decodeBody(body);
  if (decoded instanceof MalformedBody) {
    throw new ValidationError('MalformedPayload', decoded.reason, '');
  }
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) {
    throw new ValidationError('MalformedPayload', 'the request body must be a JSON object', '');
  }
  return decoded as Record<string, unknown>;
}

function mergeSources(
  sources: readonly (readonly [string, Record<string, unknown>])[],
): Record<string, unknown> {
  // No prototype: a `__proto__` field is an own field (and an unknown one), not a prototype.
  const merged = Object.create(null) as Record<string, unknown>;
  const from = new Map<string, string>();
  for (const [source, fields] of sources) {
    for (const [key, value] of Object.entries(fields)) {
      const earlier = from.get(key);
      if (earlier !== undefined) {
        throw new ValidationError(
          'InvalidRequest',
          `${key} is given in the ${earlier}; leave it out of the ${source}`,
          key,
        );
      }
      from.set(key, source);
      merged[key] = value;
    }
  }
  return merged;
}
