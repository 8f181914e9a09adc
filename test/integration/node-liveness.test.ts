import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { filter, firstValueFrom } from 'rxjs';
import { CONFIG, type CommandClient } from '@strata/bus';
import { nodeStream } from '@strata/domain';
import type { EventStore, RecordedEvent } from '@strata/eventstore';
import { LIVENESS_ACTOR } from '../../services/config/src/node-liveness/node-liveness.watchdog';
import { startConfigHarness, type ConfigHarness } from '../support/config-harness';
import { okCall } from '../support/service-harness';

// The config service's node liveness watchdog over a real nats-server and a real SQLite file:
// a node that stops heartbeating is marked down (once, however many replicas watch), a node
// that keeps beating never is, a heartbeat brings a down node back, and a replica that has just
// started (or got its NATS connection back) gives every node one timeout to beat before it
// judges anyone. Every wait is on a signal: an event appearing in the store (a catch-up
// subscription), a watchdog check ending, a connection status changing.

jest.setTimeout(30_000);

const RESOLUTION_MS = 100;
const TIMEOUT_MS = 600;
const LIVENESS = { resolutionMs: RESOLUTION_MS, timeoutMs: TIMEOUT_MS, checkIntervalMs: 100 };

/** The first node event after `after` that `match` accepts; fails after `timeoutMs`. */
async function nextEvent(
  store: EventStore,
  after: number,
  what: string,
  match: (event: RecordedEvent) => boolean,
  timeoutMs = 10_000,
): Promise<RecordedEvent> {
  const subscription = store.subscribe({ after, filter: { categories: ['node'] } });
  const deadline = setTimeout(() => void subscription.close(), timeoutMs);
  try {
    for await (const event of subscription) {
      if (match(event)) return event;
    }
  } finally {
    clearTimeout(deadline);
    await subscription.close();
  }
  throw new Error(`no ${what} within ${timeoutMs} ms`);
}

const eventOf =
  (type: string, name: string) =>
  (event: RecordedEvent): boolean =>
    event.type === type && (event.data as { name?: unknown }).name === name;

/** The types of node `name`'s events after position `after`. */
async function eventTypes(store: EventStore, name: string, after = 0): Promise<string[]> {
  const events = await store.readStream(nodeStream(name));
  return events.filter((event) => event.position > after).map((event) => event.type);
}

/**
 * An agent's heartbeat loop: one heartbeat (no time: the service's clock) every `everyMs`, each
 * sent once the previous one is answered. Errors are the agent's to shrug off (none expected).
 */
function heartbeating(client: CommandClient, name: string, everyMs = 100) {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<unknown> = Promise.resolve();
  const beat = () => {
    beating = client
      .call(CONFIG.heartbeat, { name })
      .catch(() => undefined)
      .finally(() => {
        if (!stopped) timer = setTimeout(beat, everyMs);
      });
  };
  beat();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await beating;
    },
  };
}

const registration = (name: string, host: number) => ({
  name,
  vtepAddress: `192.168.7.${host}`,
  vtepMac: `02:00:00:00:07:${host.toString(16).padStart(2, '0')}`,
});

describe('one replica watching, then restarted', () => {
  let h: ConfigHarness;
  const beating: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    h = await startConfigHarness({ liveness: LIVENESS });
  }, 30_000);

  afterAll(async () => {
    await Promise.all(beating.map((loop) => loop.stop()));
    await h?.close();
  });

  it('marks the node that stops beating down, never the one that beats, and brings it back', async () => {
    const start = await h.store.headPosition();
    await okCall(h.client, CONFIG.registerNode, registration('alive.lab', 1));
    await okCall(h.client, CONFIG.registerNode, registration('silent.lab', 2));
    beating.push(heartbeating(h.client, 'alive.lab'));

    const down = await nextEvent(
      h.store,
      start,
      'NodeMarkedDown for silent.lab',
      eventOf('NodeMarkedDown', 'silent.lab'),
    );
    expect(down.data).toMatchObject({ name: 'silent.lab', timeoutMs: TIMEOUT_MS });
    expect(down.actor).toBe(LIVENESS_ACTOR);
    const { at, lastHeartbeatAt } = down.data as { at: string; lastHeartbeatAt: string };
    expect(Date.parse(at) - Date.parse(lastHeartbeatAt)).toBeGreaterThanOrEqual(TIMEOUT_MS);

    // Two more checks that end after the mark-down: the beating node is still judged alive.
    await h.config.liveness.nextCheck();
    const check = await h.config.liveness.nextCheck();
    expect(check).toMatchObject({ outcome: 'judged', markedDown: [] });
    const alive = await eventTypes(h.store, 'alive.lab', start);
    expect(alive).not.toContain('NodeMarkedDown');
    // Heartbeats were recorded at the configured 100 ms resolution (at 10 s, none would be).
    expect(alive.filter((type) => type === 'NodeHeartbeatRecorded').length).toBeGreaterThan(1);
    expect(await okCall(h.client, CONFIG.getNode, { name: 'alive.lab' })).toMatchObject({
      status: 'ready',
    });

    const beforeRecovery = await h.store.headPosition();
    const back = await okCall(h.client, CONFIG.heartbeat, { name: 'silent.lab' });
    expect(back).toMatchObject({ status: 'ready', downAt: null });
    await nextEvent(
      h.store,
      beforeRecovery,
      'NodeRecovered for silent.lab',
      eventOf('NodeRecovered', 'silent.lab'),
    );
    expect(
      (await eventTypes(h.store, 'silent.lab', start)).filter((type) => type === 'NodeMarkedDown'),
    ).toHaveLength(1);
  });

  it('gives every node one timeout to beat after a restart, then marks the silent one down', async () => {
    await Promise.all(beating.splice(0).map((loop) => loop.stop()));
    await h.config.close();
    // The control plane was down for a minute: every recorded heartbeat is that old by the
    // clock of the replica that starts now, and it has heard from nobody yet.
    const DOWNTIME_MS = 60_000;
    const restartedAt = Date.now() + DOWNTIME_MS;
    const replica = await h.startConfigReplica({ clock: () => Date.now() + DOWNTIME_MS });
    const start = await h.store.headPosition();

    // Its first check comes while both nodes look dead in the log: without the grace period it
    // would mark both down. The live agent only gets through after it.
    expect(await replica.liveness.nextCheck()).toMatchObject({ outcome: 'grace', markedDown: [] });
    beating.push(heartbeating(h.client, 'alive.lab'));

    const down = await nextEvent(
      h.store,
      start,
      'NodeMarkedDown for silent.lab',
      eventOf('NodeMarkedDown', 'silent.lab'),
    );
    expect(Date.parse((down.data as { at: string }).at)).toBeGreaterThanOrEqual(
      restartedAt + TIMEOUT_MS,
    );
    await replica.liveness.nextCheck();
    expect(await replica.liveness.nextCheck()).toMatchObject({ outcome: 'judged', markedDown: [] });
    expect(await eventTypes(h.store, 'alive.lab', start)).not.toContain('NodeMarkedDown');
    expect(await eventTypes(h.store, 'alive.lab', start)).toContain('NodeHeartbeatRecorded');
  });
});

describe('replicas on a clock the test moves', () => {
  let h: ConfigHarness;
  // Every replica reads this clock; the test moves it instead of waiting. A minute's timeout,
  // so no real time spent in the test ever adds up to one.
  let skewMs = 0;
  const clock = () => Date.now() + skewMs;
  const MANUAL = { resolutionMs: RESOLUTION_MS, timeoutMs: 60_000 };
  const LATER = 10 * MANUAL.timeoutMs;

  beforeAll(async () => {
    // Checks only when the test asks (a check an hour apart never comes by itself).
    h = await startConfigHarness({ liveness: { ...MANUAL, checkIntervalMs: 3_600_000 }, clock });
  }, 30_000);

  afterAll(async () => {
    await h?.close();
  });

  it('make one NodeMarkedDown when they race on a silent node', async () => {
    const second = await h.startConfigReplica();
    const off = await h.startConfigReplica({ liveness: { ...MANUAL, timeoutMs: 0 } });
    await okCall(h.client, CONFIG.registerNode, registration('raced.lab', 3));
    const start = await h.store.headPosition();
    skewMs += LATER;

    expect(await off.liveness.check()).toMatchObject({ outcome: 'off', markedDown: [] });
    const checks = await Promise.all([h.config.liveness.check(), second.liveness.check()]);
    expect(checks.map((check) => check.outcome)).toEqual(['judged', 'judged']);
    expect(checks.flatMap((check) => check.markedDown)).toEqual(['raced.lab']);
    expect(await eventTypes(h.store, 'raced.lab', start)).toEqual(['NodeMarkedDown']);
    // Looking again changes nothing: the node is down.
    await Promise.all([h.config.liveness.check(), second.liveness.check()]);
    expect(await eventTypes(h.store, 'raced.lab', start)).toEqual(['NodeMarkedDown']);
  });

  it('takes mark-down requests against the configured resolution', async () => {
    await okCall(h.client, CONFIG.registerNode, registration('routed.lab', 4));
    const now = new Date(clock() + 1_000).toISOString();
    const reply = await h.client.call(CONFIG.markNodeDown, {
      name: 'routed.lab',
      timeoutMs: RESOLUTION_MS,
      now,
    });
    expect(reply).toMatchObject({ ok: false, error: { code: 'InvalidArgument' } });
    expect(
      await okCall(h.client, CONFIG.markNodeDown, {
        name: 'routed.lab',
        timeoutMs: RESOLUTION_MS + 1,
        now,
      }),
    ).toMatchObject({ status: 'down', downAt: now });
  });

  it('judges nobody while cut off from NATS, and gives nodes a grace period once back', async () => {
    await okCall(h.client, CONFIG.registerNode, registration('cut.lab', 5));
    const start = await h.store.headPosition();
    const status = h.config.service.app.status;
    // The test's own client must be back too: a request sent while it reconnects is lost.
    const clientBack = (async () => {
      for await (const event of h.connection.status()) if (event.type === 'reconnect') return;
    })();
    await h.nats.kill9();
    await firstValueFrom(status.pipe(filter((value) => value !== 'connected')));
    skewMs += LATER;
    expect(await h.config.liveness.check()).toMatchObject({
      outcome: 'disconnected',
      markedDown: [],
    });

    await h.nats.restart();
    await firstValueFrom(status.pipe(filter((value) => value === 'connected')));
    await clientBack;
    // Back, but nothing could reach it while it was away: a new grace period.
    expect(await h.config.liveness.check()).toMatchObject({ outcome: 'grace', markedDown: [] });
    skewMs += LATER;
    expect(await h.config.liveness.check()).toMatchObject({
      outcome: 'judged',
      markedDown: ['cut.lab'],
    });
    expect(await eventTypes(h.store, 'cut.lab', start)).toEqual(['NodeMarkedDown']);
  });
});
