import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { HttpException, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { BearerTokenGuard, HTTP_API_TOKEN, verifyBearer } from '@strata/bus';

// The HTTP API's token check: the plain function, then Nest's guard in front of a real HTTP
// server (Node's, as Nest's Express adapter hands it the same request and response objects).

const token = randomBytes(32).toString('base64url');

describe('verifyBearer', () => {
  it.each([
    ['the right token', `Bearer ${token}`, { ok: true }],
    ['the scheme in any case', `bearer ${token}`, { ok: true }],
    ['no header', undefined, { ok: false, reason: 'missing' }],
    ['an empty header', '', { ok: false, reason: 'missing' }],
    ['another scheme', `Basic ${token}`, { ok: false, reason: 'malformed' }],
    ['a bare token', token, { ok: false, reason: 'malformed' }],
    ['a scheme without a token', 'Bearer ', { ok: false, reason: 'malformed' }],
    ['two tokens', `Bearer ${token} ${token}`, { ok: false, reason: 'malformed' }],
    [
      'the header twice',
      [`Bearer ${token}`, `Bearer ${token}`],
      { ok: false, reason: 'malformed' },
    ],
    [
      'a wrong token',
      `Bearer ${randomBytes(32).toString('base64url')}`,
      { ok: false, reason: 'invalid' },
    ],
    ['a prefix of the token', `Bearer ${token.slice(0, 20)}`, { ok: false, reason: 'invalid' }],
    ['the token and more', `Bearer ${token}x`, { ok: false, reason: 'invalid' }],
  ])('%s', (_name, header, expected) => {
    expect(verifyBearer(header, token)).toEqual(expected);
  });

  it('refuses to compare against an empty token', () => {
    expect(() => verifyBearer('Bearer ', '')).toThrow(TypeError);
  });
});

describe('BearerTokenGuard in front of an HTTP server', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const guard = new BearerTokenGuard(token);
    server = createServer((request, response) => {
      try {
        guard.canActivate(new ExecutionContextHost([request, response]));
        response.writeHead(200).end('segments');
      } catch (error) {
        const status = error instanceof HttpException ? error.getStatus() : 500;
        response.writeHead(status).end((error as Error).message);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') {
      throw new Error('no TCP address');
    }
    url = `http://127.0.0.1:${address.port}/segments`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  async function call(authorization?: string) {
    const response = await fetch(url, {
      headers: authorization === undefined ? {} : { authorization },
    });
    return {
      status: response.status,
      challenge: response.headers.get('www-authenticate'),
      body: await response.text(),
    };
  }

  it('serves a request with the token', async () => {
    expect(await call(`Bearer ${token}`)).toEqual({
      status: 200,
      challenge: null,
      body: 'segments',
    });
  });

  it('refuses a request without a token, with a challenge', async () => {
    expect(await call()).toEqual({
      status: 401,
      challenge: 'Bearer realm="strata"',
      body: 'bearer token missing',
    });
  });

  it('refuses malformed and wrong tokens', async () => {
    const invalid = 'Bearer realm="strata", error="invalid_token"';
    expect(await call(`Token ${token}`)).toEqual({
      status: 401,
      challenge: invalid,
      body: 'bearer token malformed',
    });
    expect(await call(`Bearer ${randomBytes(32).toString('base64url')}`)).toEqual({
      status: 401,
      challenge: invalid,
      body: 'bearer token invalid',
    });
  });

  it('cannot be built without a token', () => {
    expect(() => new BearerTokenGuard('')).toThrow(TypeError);
  });
});

describe('BearerTokenGuard through Nest dependency injection', () => {
  it('takes the token from the HTTP_API_TOKEN provider', async () => {
    @Module({ providers: [{ provide: HTTP_API_TOKEN, useValue: token }, BearerTokenGuard] })
    class ApiModule {}
    const app = await NestFactory.createApplicationContext(ApiModule, { logger: false });
    try {
      const guard = app.get(BearerTokenGuard);
      const context = (authorization: string) =>
        new ExecutionContextHost([{ headers: { authorization } }, {}]);
      expect(guard.canActivate(context(`Bearer ${token}`))).toBe(true);
      expect(() => guard.canActivate(context('Bearer nope'))).toThrow('bearer token invalid');
    } finally {
      await app.close();
    }
  });
});
