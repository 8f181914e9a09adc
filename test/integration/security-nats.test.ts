import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ClientProxyFactory,
  MessagePattern,
  Transport,
  type MicroserviceOptions,
} from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connect,
  Events,
  nkeyAuthenticator,
  nkeys,
  StringCodec,
  type NatsConnection,
  type Subscription,
} from 'nats';
import { SqliteEventStore } from '@strata/eventstore';
import {
  NatsServerProcess,
  Relay,
  SERVICES,
  connectAs,
  generateCredentials,
  loadCredentials,
  type CredentialSet,
  type Identity,
  type IdentityCredentials,
  type ServiceName,
} from '@strata/bus';

// A real nats-server with the generated authorization block: who gets in, what each identity can
// do, and what the server refuses. Every refusal is the server's own -ERR, observed as the
// client's permission-violation status (or a rejected connect/request) — no timeouts, no sleeps.

jest.setTimeout(60_000);

const sc = StringCodec();
const LEASE_BUCKET = 'strata_relay';
const NODES = ['node-1', 'node-2.rack-1'];

describe('NATS with generated credentials', () => {
  let root: string;
  let set: CredentialSet;
  let server: NatsServerProcess;
  const connections = new Map<Identity, NatsConnection>();

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'strata-sec-'));
    set = await generateCredentials(join(root, 'credentials'), { nodes: NODES });
    server = await NatsServerProcess.start({ jetstream: true, config: set.authConfig });
  });

  afterAll(async () => {
    await Promise.all([...connections.values()].map((nc) => nc.close()));
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** One connection per identity, shared by the tests. */
  async function as(identity: Identity): Promise<NatsConnection> {
    let nc = connections.get(identity);
    if (nc === undefined) {
      nc = await connectAs(identity, { servers: server.url, dir: set.dir });
      connections.set(identity, nc);
    }
    return nc;
  }

  describe('who gets in', () => {
    it('refuses a client without credentials', async () => {
      await expect(connect({ servers: server.url })).rejects.toMatchObject({
        code: 'AUTHORIZATION_VIOLATION',
      });
    });

    it('refuses a seed the server does not know', async () => {
      const stranger = nkeys.createUser().getSeed();
      await expect(
        connect({ servers: server.url, authenticator: nkeyAuthenticator(stranger) }),
      ).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    });

    it('admits every generated identity', async () => {
      for (const identity of set.identities) {
        const nc = await as(identity);
        expect(nc.info?.auth_required).toBe(true);
        await nc.flush();
      }
    });
  });

  describe('what each identity can do', () => {
    it('lets every service take its commands in a queue group and answer the admin', async () => {
      const admin = await as('admin');
      for (const service of SERVICES) {
        const sub = await answer(await as(service), `strata.${service}.>`, `${service}-ok`);
        const reply = await admin.request(`strata.${service}.thing.create`, sc.encode('{}'));
        expect(sc.decode(reply.data)).toBe(`${service}-ok`);
        sub.unsubscribe();
      }
    });

    it('lets a service call the services it depends on', async () => {
      const calls: [ServiceName, ServiceName][] = [
        ['config', 'ipam'],
        ['config', 'policy'],
        ['discovery', 'ipam'],
        ['policy', 'ipam'],
      ];
      for (const [caller, callee] of calls) {
        const sub = await answer(await as(callee), `strata.${callee}.>`, `from-${callee}`);
        const reply = await (await as(caller)).request(`strata.${callee}.address.allocate`);
        expect(sc.decode(reply.data)).toBe(`from-${callee}`);
        sub.unsubscribe();
      }
    });

    it("delivers the relay's events to every service and agent", async () => {
      const readers: Identity[] = [...SERVICES, 'agent-node-1', 'agent-node-2.rack-1', 'admin'];
      const received = await Promise.all(
        readers.map(async (identity) => {
          const nc = await as(identity);
          const sub = nc.subscribe('strata.ev.>', { max: 1 });
          await nc.flush();
          return sub;
        }),
      );
      (await as('relay')).publish('strata.ev.segment.s1', sc.encode('SegmentCreated'));
      for (const sub of received) {
        for await (const msg of sub) {
          expect([msg.subject, sc.decode(msg.data)]).toEqual([
            'strata.ev.segment.s1',
            'SegmentCreated',
          ]);
        }
      }
    });

    it('lets an agent register, heartbeat and report on its own subjects', async () => {
      const config = await as('config');
      const registry = await answer(config, 'strata.config.>', 'registered');
      const agent = await as('agent-node-2.rack-1');
      const reply = await agent.request('strata.config.node.register', sc.encode('node-2.rack-1'));
      expect(sc.decode(reply.data)).toBe('registered');
      registry.unsubscribe();

      const analytics = await as('analytics');
      const reports = analytics.subscribe('strata.agent.>', { max: 1 });
      await analytics.flush();
      agent.publish('strata.agent.node-2_rack-1.applied', sc.encode('42'));
      for await (const msg of reports) {
        expect(msg.subject).toBe('strata.agent.node-2_rack-1.applied');
      }
    });

    it("works through NestJS's NATS transport (queue group, one reply, own inbox)", async () => {
      @Controller()
      class AllocateAddress {
        @MessagePattern('strata.ipam.address.allocate')
        allocate(request: { owner: string }) {
          return { address: '10.0.0.7', owner: request.owner };
        }
      }
      @Module({ controllers: [AllocateAddress] })
      class IpamModule {}

      const ipam = await loadCredentials(set.dir, 'ipam');
      const service = await NestFactory.createMicroservice<MicroserviceOptions>(IpamModule, {
        transport: Transport.NATS,
        options: { servers: [server.url], queue: 'ipam', ...natsOptions(ipam) },
        logger: false,
      });
      const config = await loadCredentials(set.dir, 'config');
      const client = ClientProxyFactory.create({
        transport: Transport.NATS,
        options: { servers: [server.url], ...natsOptions(config) },
      });
      try {
        await service.listen();
        const reply = await firstValueFrom(
          client.send('strata.ipam.address.allocate', { owner: 'pod-1' }),
        );
        expect(reply).toEqual({ address: '10.0.0.7', owner: 'pod-1' });
      } finally {
        await client.close();
        await service.close();
      }
    });

    it('lets the real relay take its lease and publish the log, without a refusal', async () => {
      const store = new SqliteEventStore({ path: join(root, 'events.db') });
      const nc = await as('relay');
      const refusals: string[] = [];
      void (async () => {
        for await (const s of nc.status()) {
          if (s.data === 'PERMISSIONS_VIOLATION') {
            refusals.push(`${s.permissionContext?.operation} ${s.permissionContext?.subject}`);
          }
        }
      })();
      const agent = await as('agent-node-1');
      const events = agent.subscribe('strata.ev.segment.>', { max: 1 });
      await agent.flush();
      const relay = await Relay.start({ store, nc, leaseTtlMs: 2_000 });
      try {
        await relay.whenState('leading');
        await store.append(
          'segment-s9',
          [{ id: 'ev-1', type: 'SegmentCreated', data: { vni: 9 } }],
          'no-stream',
        );
        for await (const msg of events) {
          expect(msg.subject).toBe('strata.ev.segment.s9');
        }
      } finally {
        await relay.stop();
        await store.close();
      }
      await nc.flush();
      expect(refusals).toEqual([]);
    });

    it('lets the relay create, read, update and watch its lease bucket', async () => {
      const js = (await as('relay')).jetstream();
      const kv = await js.views.kv(LEASE_BUCKET, { history: 1 });
      const revision = await kv.create('lease', sc.encode('relay-a'));
      await kv.update('lease', sc.encode('relay-a renewed'), revision);
      expect(sc.decode((await kv.get('lease'))?.value ?? new Uint8Array())).toBe('relay-a renewed');
      const watch = await kv.watch({ key: 'lease' });
      const seen: string[] = [];
      const done = (async () => {
        for await (const entry of watch) {
          seen.push(`${entry.operation}:${sc.decode(entry.value)}`);
          if (entry.operation === 'DEL') {
            break;
          }
        }
      })();
      await kv.delete('lease');
      await done;
      expect(seen).toEqual(['PUT:relay-a renewed', 'DEL:']);
    });
  });

  describe('what the server refuses', () => {
    it('refuses ipam publishing an event; no subscriber ever sees it', async () => {
      const watcher = await as('admin');
      const events = watcher.subscribe('strata.ev.>', { max: 1 });
      await watcher.flush();
      const ipam = await as('ipam');
      await expectRefused(ipam, 'publish', 'strata.ev.x', () =>
        ipam.publish('strata.ev.x', sc.encode('forged')),
      );
      (await as('relay')).publish('strata.ev.marker', sc.encode('genuine'));
      for await (const msg of events) {
        expect(msg.subject).toBe('strata.ev.marker');
      }
    });

    it("refuses ipam sending another service's command", async () => {
      const ipam = await as('ipam');
      await expectRefused(ipam, 'publish', 'strata.config.segment.create', () =>
        ipam.publish('strata.config.segment.create'),
      );
      await expect(ipam.request('strata.config.segment.create')).rejects.toMatchObject({
        code: 'PERMISSIONS_VIOLATION',
      });
    });

    it('refuses calls outside the dependency table', async () => {
      await expectPublishRefused('analytics', 'strata.ipam.address.allocate');
      await expectPublishRefused('ipam', 'strata.policy.identity.assign');
      await expectPublishRefused('discovery', 'strata.config.segment.create');
      await expectPublishRefused('policy', 'strata.config.policy.create');
    });

    it('refuses an agent anything beyond its reports and node commands', async () => {
      await expectPublishRefused('agent-node-1', 'strata.ipam.address.allocate');
      await expectPublishRefused('agent-node-1', 'strata.config.segment.create');
      await expectPublishRefused('agent-node-1', 'strata.config.node.delete');
      await expectPublishRefused('agent-node-1', 'strata.config.node.mark-down');
      await expectPublishRefused('agent-node-1', 'strata.ev.node.node-1');
      // Another node's reports, including one whose name merely starts the same way.
      await expectPublishRefused('agent-node-1', 'strata.agent.node-2_rack-1.applied');
      await expectPublishRefused('agent-node-2.rack-1', 'strata.agent.node-2.applied');
      await expectSubscribeRefused('agent-node-1', 'strata.config.>');
      // It answers its own status queries, not another node's, and reads no log but the relay's.
      await expectSubscribeRefused('agent-node-1', 'strata.agent.node-2_rack-1.status');
      await expectSubscribeRefused('agent-node-1', 'strata.agent.>');
      await expectSubscribeRefused('agent-node-1', 'strata.log.read');
    });

    it('refuses the admin forging events or agent reports', async () => {
      await expectPublishRefused('admin', 'strata.ev.segment.s1');
      await expectPublishRefused('admin', 'strata.agent.node-1.applied');
    });

    it("refuses subscribing to another service's commands", async () => {
      await expectSubscribeRefused('ipam', 'strata.config.>');
      await expectSubscribeRefused('analytics', 'strata.ipam.>');
    });

    it("refuses reading another identity's replies", async () => {
      await expectSubscribeRefused('agent-node-1', '_INBOX.>');
      await expectSubscribeRefused('agent-node-1', '_INBOX.config.>');
      // A client that ignores its inbox prefix cannot even receive its own replies.
      const credentials = await loadCredentials(set.dir, 'admin');
      const careless = await connect({
        servers: server.url,
        authenticator: credentials.authenticator,
      });
      try {
        await expect(careless.request('strata.ipam.address.allocate')).rejects.toMatchObject({
          code: 'PERMISSIONS_VIOLATION',
        });
      } finally {
        await careless.close();
      }
    });

    it('refuses a service a second reply to one request', async () => {
      const ipam = await as('ipam');
      const replied = new Promise<void>((resolve) => {
        ipam.subscribe('strata.ipam.>', {
          queue: 'ipam',
          max: 1,
          callback: (_err, msg) => {
            msg.respond(sc.encode('first'));
            msg.respond(sc.encode('second'));
            resolve();
          },
        });
      });
      await ipam.flush();
      const reply = await expectRefused(ipam, 'publish', /^_INBOX\.admin\./, async () => {
        const answer = await (await as('admin')).request('strata.ipam.address.allocate');
        await replied;
        return answer;
      });
      expect(sc.decode(reply.data)).toBe('first');
    });

    it('refuses the relay any JetStream stream but its own buckets', async () => {
      const relay = await as('relay');
      const jsm = await relay.jetstreamManager();
      await expect(jsm.streams.add({ name: 'OTHER', subjects: ['other.>'] })).rejects.toMatchObject(
        { code: 'PERMISSIONS_VIOLATION' },
      );
      await expect(jsm.streams.delete(`KV_${LEASE_BUCKET}`)).rejects.toMatchObject({
        code: 'PERMISSIONS_VIOLATION',
      });
      await expect(jsm.streams.list().next()).rejects.toMatchObject({
        code: 'PERMISSIONS_VIOLATION',
      });
      await expectPublishRefused('relay', 'strata.config.segment.create');
    });
  });

  async function expectPublishRefused(identity: Identity, subject: string): Promise<void> {
    const nc = await as(identity);
    await expectRefused(nc, 'publish', subject, () => nc.publish(subject));
  }

  async function expectSubscribeRefused(identity: Identity, subject: string): Promise<void> {
    const nc = await as(identity);
    await expectRefused(nc, 'subscription', subject, () => {
      nc.subscribe(subject);
    });
  }
});

/** What Nest's NATS transport needs from one identity's credentials. */
function natsOptions(credentials: IdentityCredentials) {
  return { authenticator: credentials.authenticator, inboxPrefix: credentials.inboxPrefix };
}

/** Subscribes `nc` to `subject` in a queue group and answers every request with `text`. */
async function answer(nc: NatsConnection, subject: string, text: string): Promise<Subscription> {
  const sub = nc.subscribe(subject, {
    queue: subject.split('.')[1],
    callback: (err, msg) => {
      if (err === null) {
        msg.respond(sc.encode(text));
      }
    },
  });
  await nc.flush();
  return sub;
}

/**
 * Runs `action` and expects the server's permission violation for `operation` on `subject`, as the
 * client reports it on its status stream. The server answers a connection's protocol lines in
 * order, so once a flush after `action` has its PONG, a refusal would already have arrived: no
 * refusal by then (and its status delivered, by the next macrotask) means none is coming.
 */
async function expectRefused<T>(
  nc: NatsConnection,
  operation: 'publish' | 'subscription',
  subject: string | RegExp,
  action: () => T | Promise<T>,
): Promise<T> {
  const status = nc.status();
  const refusal = (async () => {
    for await (const s of status) {
      const context = s.permissionContext;
      if (
        s.type === Events.Error &&
        s.data === 'PERMISSIONS_VIOLATION' &&
        context?.operation === operation &&
        (typeof subject === 'string' ? context.subject === subject : subject.test(context.subject))
      ) {
        return context;
      }
    }
    return undefined;
  })();
  const result = await action();
  await nc.flush();
  const refused = await Promise.race([
    refusal,
    new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined))),
  ]);
  if (refused === undefined) {
    throw new Error(`the server did not refuse ${operation} to ${String(subject)}`);
  }
  return result;
}
