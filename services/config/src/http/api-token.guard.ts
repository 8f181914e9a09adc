import { SetMetadata, type ExecutionContext } from '@nestjs/common';
import { BearerTokenGuard } from '@strata/bus';

const PUBLIC_ROUTE = 'strata:config:public-route';

/** Marks a route that needs no token (the OpenAPI document). Everything else needs one. */
export const PublicRoute = (): MethodDecorator => SetMetadata(PUBLIC_ROUTE, true);

/**
 * The API's global guard: `Authorization: Bearer <token>` on every route (BearerTokenGuard:
 * 401 with a WWW-Authenticate challenge otherwise), except the ones marked `@PublicRoute()`.
 * Secure by default: a new route needs the token unless it says otherwise.
 */
export class ApiTokenGuard extends BearerTokenGuard {
  override canActivate(context: ExecutionContext): boolean {
    if (Reflect.getMetadata(PUBLIC_ROUTE, context.getHandler()) === true) return true;
    return super.canActivate(context);
  }
}
