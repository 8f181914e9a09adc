import { afterAll, beforeAll } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { NatsServerProcess } from '@strata/bus';
import { JetStreamEventStore } from '@strata/eventstore';
import { testEventStore } from '@strata/eventstore/testing';

// One real nats-server with JetStream for the whole suite; every test gets its own JetStream
// stream and subject prefix, so each starts from an empty log.
let server: NatsServerProcess;

beforeAll(async () => {
  server = await NatsServerProcess.start({ jetstream: true });
});

afterAll(async () => {
  await server?.stop();
});

testEventStore('jetstream', {
  isolated: true,
  create: () => {
    const unique = randomUUID().replace(/-/g, '').slice(0, 12);
    return JetStreamEventStore.connect({
      servers: server.url,
      streamName: `CONFORMANCE_${unique}`,
      subjectPrefix: `conformance.${unique}`,
    });
  },
});
