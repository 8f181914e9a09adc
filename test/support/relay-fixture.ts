import { Relay } from '@strata/bus';
import { SqliteEventStore } from '@strata/eventstore';
import { connect } from 'nats';

// One relay in its own process, for the failover test (which kills it with SIGKILL). Settings
// come from the environment; it reports on stdout, one JSON object per line:
//   {"state":"standby"|"leading"|...}  at every state change
//   {"stopped":true,"stats":{...},"last":{"seq":N,"position":P}}  after SIGTERM, then exits 0
// Run it as: node --require test/support/relay-ts-register.js test/support/relay-fixture.ts

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set`);
  }
  return value;
}

function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function main(): Promise<void> {
  const ttl = Number(env('STRATA_RELAY_TTL_MS'));
  const store = new SqliteEventStore({ path: env('STRATA_STORE_PATH'), pollIntervalMs: 10 });
  const nc = await connect({ servers: env('STRATA_NATS_URL') });
  const relay = await Relay.start({
    store,
    nc,
    holder: env('STRATA_RELAY_HOLDER'),
    leaseTtlMs: ttl,
    renewIntervalMs: Math.floor(ttl / 5),
    campaignIntervalMs: Math.floor(ttl / 10),
    heartbeatIntervalMs: 100,
    checkpointEvery: 50,
    checkpointIntervalMs: 100,
    onStateChange: (state) => emit({ state }),
    onError: (error) => emit({ warning: error.message }),
  });
  process.once('SIGTERM', () => {
    void (async () => {
      await relay.stop();
      await nc.close();
      await store.close();
      emit({ stopped: true, stats: relay.stats, last: relay.lastPublished });
      process.exit(0);
    })();
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
