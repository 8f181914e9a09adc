import { describe, expect, it, afterAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const cli = resolve(__dirname, '../../bin/strata');
const dir = mkdtempSync(join(tmpdir(), 'strata-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('strata demo (the README command, as a user runs it)', () => {
  it('appends network events to the embedded store and replays them as a table', async () => {
    expect(existsSync(resolve(__dirname, '../../dist/services/cli/src/main.js'))).toBe(true);
    const store = join(dir, 'events.db');
    const { stdout } = await run(cli, ['demo', '--store', store], { timeout: 30_000 });
    expect(stdout).toContain('appended 10 new events');
    const rows = stdout.split('\n').filter((line) => /^\d+\s/.test(line));
    expect(rows.slice(0, 10).map((row) => row.split(/\s+/)[4])).toEqual([
      'SegmentCreated',
      'PoolCreated',
      'NodeRegistered',
      'NodeRegistered',
      'AddressAllocated',
      'EndpointCreated',
      'AddressAllocated',
      'EndpointCreated',
      'EndpointDeleted',
      'AddressReleased',
    ]);
    expect(rows.slice(0, 10).map((row) => Number(row.split(/\s+/)[0]))).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    expect(stdout).toMatch(
      /pool-blue\s+3\s+AddressReleased\s+svc:ipam\s+poolId=blue address=10\.10\.0\.2/,
    );
  });

  it('appends nothing new when run again: event ids derive from command ids', async () => {
    const store = join(dir, 'again.db');
    await run(cli, ['demo', '--store', store], { timeout: 30_000 });
    const { stdout } = await run(cli, ['demo', '--store', store], { timeout: 30_000 });
    expect(stdout).toContain('appended 0 new events (10 were already in the log');
    expect(stdout.split('\n').filter((line) => /^\d+\s/.test(line)).length).toBe(11);
  });

  it('fails with a clear error and a non-zero exit on a store it cannot open', async () => {
    const notADirectory = join(dir, 'a-file');
    writeFileSync(notADirectory, '');
    const error = await run(cli, ['demo', '--store', join(notADirectory, 'events.db')], {
      timeout: 30_000,
    }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(error?.code).toBe(1);
    expect(error?.stderr).toMatch(
      /^strata: StoreUnavailable: sqlite event store unavailable: cannot open/,
    );
  });
});
