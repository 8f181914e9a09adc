import { describe, it } from '@jest/globals';
import { KurrentDbEventStore } from '@strata/eventstore';
import { testEventStore } from '@strata/eventstore/testing';

// Needs a KurrentDB server, e.g.
//   docker run --rm -p 2113:2113 -e KURRENTDB_INSECURE=true kurrentplatform/kurrentdb:latest
//   STRATA_KURRENTDB_URL='kurrentdb://127.0.0.1:2113?tls=false' npx jest test/conformance/kurrentdb
// The server is shared and keeps what the suite writes: each test works in its own categories.
const url = process.env.STRATA_KURRENTDB_URL;

if (url !== undefined && url !== '') {
  testEventStore('kurrentdb', {
    isolated: false,
    detectsReusedIds: false,
    create: () => KurrentDbEventStore.connect({ connectionString: url }),
  });
} else {
  // Straight to stderr: jest drops console output of a file whose tests are all skipped.
  process.stderr.write('kurrentdb conformance skipped: set STRATA_KURRENTDB_URL to run it\n');
  describe.skip('EventStore conformance: kurrentdb (skipped: set STRATA_KURRENTDB_URL to run it)', () => {
    it('runs the shared event-store conformance suite against a KurrentDB server', () => undefined);
  });
}
