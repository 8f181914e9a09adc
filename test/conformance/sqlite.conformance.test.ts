import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from '@jest/globals';
import { SqliteEventStore } from '@strata/eventstore';
import { testEventStore } from '@strata/eventstore/testing';

const dir = mkdtempSync(join(tmpdir(), 'strata-sqlite-'));
let files = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Every test gets a new database file: the real WAL-mode file the embedded default uses.
testEventStore('sqlite', {
  isolated: true,
  create: async () => new SqliteEventStore({ path: join(dir, `events-${files++}.db`) }),
});
