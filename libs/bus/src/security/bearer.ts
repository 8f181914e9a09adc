import { createHash, timingSafeEqual } from 'node:crypto';
import {
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';

/** Why a request's bearer token was refused. */
export type BearerRejection =
  /** No Authorization header (or an empty one). */
  | 'missing'
  /** Not `Bearer <token>`, or the header given more than once. */
  | 'malformed'
  /** A well-formed token that is not the API's. */
  | 'invalid';

export type BearerCheck =
  { readonly ok: true } | { readonly ok: false; readonly reason: BearerRejection };

// RFC 6750: the scheme is case-insensitive; the token is a b64token.
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i;

/**
 * Checks an HTTP Authorization header (as Node and Express give it) against the API's token.
 * The comparison takes the same time whatever the candidate: both sides are hashed first, so
 * neither a differing byte nor a differing length shows in the timing.
 */
export function verifyBearer(
  header: string | readonly string[] | undefined,
  token: string,
): BearerCheck {
  if (token.length === 0) {
    throw new TypeError('verifyBearer: the expected token is empty');
  }
  if (header === undefined || header.length === 0) {
    return { ok: false, reason: 'missing' };
  }
  if (typeof header !== 'string') {
    return { ok: false, reason: 'malformed' };
  }
  const match = BEARER.exec(header.trim());
  if (match === null) {
    return { ok: false, reason: 'malformed' };
  }
  return timingSafeEqual(digest(match[1]), digest(token))
    ? { ok: true }
    : { ok: false, reason: 'invalid' };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Nest injection token for the API's bearer token (see `loadHttpToken`). */
export const HTTP_API_TOKEN = Symbol('strata.http-api-token');

interface HttpRequestLike {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

interface HttpResponseLike {
  setHeader?(name: string, value: string): unknown;
}

/**
 * Refuses every HTTP request without the API's bearer token: 401 with a `WWW-Authenticate: Bearer`
 * challenge (RFC 6750). Register it globally, either `app.useGlobalGuards(new
 * BearerTokenGuard(token))` or as an `APP_GUARD` provider with `HTTP_API_TOKEN` provided.
 * Non-HTTP contexts pass: NATS callers are already authenticated by the server, per identity.
 */
@Injectable()
export class BearerTokenGuard implements CanActivate {
  constructor(@Inject(HTTP_API_TOKEN) private readonly token: string) {
    if (typeof token !== 'string' || token.length === 0) {
      throw new TypeError('BearerTokenGuard needs the API token');
    }
  }

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') {
      return true;
    }
    const http = context.switchToHttp();
    const check = verifyBearer(
      http.getRequest<HttpRequestLike>().headers.authorization,
      this.token,
    );
    if (check.ok) {
      return true;
    }
    const challenge =
      check.reason === 'missing'
        ? 'Bearer realm="strata"'
        : `Bearer realm="strata", error="invalid_token"`;
    http.getResponse<HttpResponseLike>().setHeader?.('WWW-Authenticate', challenge);
    throw new UnauthorizedException(`bearer token ${check.reason}`);
  }
}
