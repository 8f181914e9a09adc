import { expect } from '@jest/globals';
import type { CommandReply, ConfigCommandSpec } from '@strata/bus';
import { CONFIG_HANDLERS } from '../../services/config/src/config.module';
import { commandRoutes } from '../../services/config/src/transport/command-route';
import type { ConfigHarness } from './config-harness';

/**
 * The config API's two transports behind one call, so every command and error path of the
 * integration tests runs over both: NATS request/reply (the command protocol's envelope, as the
 * admin identity) and the REST API (path parameters, query or JSON body, with the bearer
 * token). Over HTTP, every reply's status is also checked against the status its error code
 * must have (the table below, written independently of the service's own).
 */

export interface Transport {
  readonly name: 'NATS' | 'HTTP';
  call<Request, Reply>(
    spec: ConfigCommandSpec<Request, Reply>,
    data: Request,
  ): Promise<CommandReply<Reply>>;
}

/** Expected HTTP status by error code; anything not listed must not occur in these tests. */
export const EXPECTED_STATUS: Readonly<Record<string, number>> = {
  MalformedPayload: 400,
  InvalidRequest: 400,
  UnknownField: 400,
  InvalidId: 400,
  InvalidName: 400,
  InvalidIp: 400,
  InvalidCidr: 400,
  InvalidMac: 400,
  InvalidVni: 400,
  InvalidLabels: 400,
  InvalidPort: 400,
  InvalidUrl: 400,
  InvalidTimestamp: 400,
  InvalidArgument: 400,
  Unauthorized: 401,
  NotFound: 404,
  AlreadyExists: 409,
  OverlappingCidr: 409,
  DuplicateVni: 409,
  AddressInUse: 409,
  InvalidState: 409,
  PoolExhausted: 409,
  PayloadTooLarge: 413,
  NoResponders: 503,
  Timeout: 503,
};

const ROUTES = commandRoutes(CONFIG_HANDLERS);

export function natsTransport(h: ConfigHarness): Transport {
  return { name: 'NATS', call: (spec, data) => h.client.call(spec, data) };
}

export function httpTransport(h: ConfigHarness): Transport {
  return {
    name: 'HTTP',
    async call<Request, Reply>(spec: ConfigCommandSpec<Request, Reply>, data: Request) {
      const route = ROUTES.find((candidate) => candidate.spec.subject === spec.subject);
      if (route === undefined) throw new Error(`no HTTP route for ${spec.subject}`);
      const rest: Record<string, unknown> = { ...(data as Record<string, unknown>) };
      const path = route.path.replace(/:([A-Za-z0-9_]+)/g, (_match, name: string) => {
        const value = rest[name];
        delete rest[name];
        return encodeURIComponent(String(value));
      });
      const isQuery = route.method === 'GET';
      const query = isQuery ? new URLSearchParams(rest as Record<string, string>).toString() : '';
      const response = await fetch(`${h.url}${path}${query === '' ? '' : `?${query}`}`, {
        method: route.method,
        headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
        ...(isQuery || Object.keys(rest).length === 0 ? {} : { body: JSON.stringify(rest) }),
      });
      const body = (await response.json()) as { error?: { code: string; message: string } };
      if (response.ok) {
        expect(response.status).toBe(route.status ?? 200);
        return { ok: true, data: body as Reply };
      }
      if (body.error === undefined) throw new Error(`HTTP ${response.status} without an error`);
      expect({ code: body.error.code, status: response.status }).toEqual({
        code: body.error.code,
        status: EXPECTED_STATUS[body.error.code],
      });
      return { ok: false, error: body.error };
    },
  };
}

/** The data of a reply that must succeed. */
export function data<Reply>(reply: CommandReply<Reply>): Reply {
  if (!reply.ok)
    throw new Error(`expected success, got ${reply.error.code}: ${reply.error.message}`);
  return reply.data;
}

/** The error code of a reply that must fail (with a message). */
export function errorCode(reply: unknown): string {
  const typed = reply as CommandReply<unknown>;
  if (typed.ok !== false) throw new Error(`expected an error reply, got ${JSON.stringify(reply)}`);
  expect(typed.error.message.length).toBeGreaterThan(0);
  return typed.error.code;
}
