import { Controller, Get, Inject } from '@nestjs/common';
import type { JsonSchema } from '@strata/bus';
import { PublicRoute } from './api-token.guard';
import { OPENAPI_PATH } from './openapi';

export const OPENAPI_DOCUMENT = Symbol('strata.config.openapi-document');

/** `GET /v1/openapi.json`: the API's OpenAPI 3.1 document. Needs no token. */
@Controller()
export class OpenApiController {
  constructor(@Inject(OPENAPI_DOCUMENT) private readonly document: JsonSchema) {}

  @Get(OPENAPI_PATH)
  @PublicRoute()
  get(): JsonSchema {
    return this.document;
  }
}
