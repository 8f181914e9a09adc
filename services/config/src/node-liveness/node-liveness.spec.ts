import { Command } from 'commander';
import { Clock } from '../shared/clock';
import { nodeLivenessFromFlags, nodeLivenessOptions } from './liveness-flags';
import {
  DEFAULT_NODE_LIVENESS,
  inGracePeriod,
  NodeLiveness,
  nodeLivenessSettings,
  nodesToMarkDown,
  type LivenessJudgement,
  type WatchedNode,
} from './node-liveness';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const TIMEOUT = 600;

const ready = (name: string, lastMs: number): WatchedNode => ({
  name,
  status: 'ready',
  lastHeartbeatAt: at(lastMs),
});
/** A replica watching since T0, judging at `nowMs` after T0, with `heard` (ms after T0). */
const judge = (nowMs: number, heard: Record<string, number> = {}): LivenessJudgement => ({
  nowMs: T0 + nowMs,
  watchingSinceMs: T0,
  timeoutMs: TIMEOUT,
  heardAt: new Map(Object.entries(heard).map(([name, ms]) => [name, T0 + ms])),
});

describe('nodesToMarkDown', () => {
  it('picks ready nodes whose last recorded heartbeat is a timeout old or older', () => {
    const nodes = [ready('a', 400), ready('b', 100), ready('c', 99), ready('d', 101)];
    expect(nodesToMarkDown(nodes, judge(700))).toEqual(['b', 'c']);
  });

  it('leaves down nodes alone', () => {
    const down: WatchedNode = { name: 'a', status: 'down', lastHeartbeatAt: at(0) };
    expect(nodesToMarkDown([down], judge(5_000))).toEqual([]);
  });

  it('spares a node this replica heard from within the timeout, however old the log says', () => {
    const nodes = [ready('a', 0), ready('b', 0)];
    expect(nodesToMarkDown(nodes, judge(1_000, { a: 401, b: 400 }))).toEqual(['b']);
  });

  it('judges nobody during the grace period, one timeout after it began watching', () => {
    const stale = [ready('a', -10_000)];
    expect(nodesToMarkDown(stale, judge(0))).toEqual([]);
    expect(nodesToMarkDown(stale, judge(TIMEOUT - 1))).toEqual([]);
    expect(nodesToMarkDown(stale, judge(TIMEOUT))).toEqual(['a']);
    expect(inGracePeriod(judge(TIMEOUT - 1))).toBe(true);
    expect(inGracePeriod(judge(TIMEOUT))).toBe(false);
  });

  it('takes a heartbeat recorded after now (another clock) as recent', () => {
    expect(nodesToMarkDown([ready('a', 5_000)], judge(1_000))).toEqual([]);
  });
});

describe('NodeLiveness', () => {
  it('remembers when it heard from each node, by its clock, forgetting what is a timeout old', () => {
    let now = T0;
    const liveness = new NodeLiveness(
      nodeLivenessSettings({ timeoutMs: TIMEOUT, resolutionMs: 100 }),
      new Clock(() => now),
    );
    liveness.heardFrom('a');
    now += 100;
    liveness.heardFrom('b');
    expect([...liveness.heardSince(T0 + 599)]).toEqual([
      ['a', T0],
      ['b', T0 + 100],
    ]);
    expect([...liveness.heardSince(T0 + 600)]).toEqual([['b', T0 + 100]]);
    expect([...liveness.heardSince(T0 + 100)]).toEqual([['b', T0 + 100]]);
  });
});

describe('nodeLivenessSettings', () => {
  it('defaults to a 40 s timeout, a 10 s resolution and a check every second', () => {
    expect(nodeLivenessSettings()).toEqual({
      timeoutMs: 40_000,
      resolutionMs: 10_000,
      checkIntervalMs: 1_000,
    });
    expect(nodeLivenessSettings({ timeoutMs: undefined, checkIntervalMs: 50 })).toEqual({
      ...DEFAULT_NODE_LIVENESS,
      checkIntervalMs: 50,
    });
  });

  it('takes a timeout of 0 (no watchdog), whatever the resolution', () => {
    expect(nodeLivenessSettings({ timeoutMs: 0 }).timeoutMs).toBe(0);
  });

  it.each([
    ['a timeout not above the resolution', { timeoutMs: 10_000 }, /--node-timeout-ms/],
    ['a timeout above 24 h', { timeoutMs: 86_400_001 }, /--node-timeout-ms/],
    ['a fractional timeout', { timeoutMs: 20_000.5 }, /--node-timeout-ms/],
    ['a resolution below 100 ms', { resolutionMs: 99, timeoutMs: 500 }, /--heartbeat-resolution/],
    ['a resolution above 1 h', { resolutionMs: 3_600_001 }, /--heartbeat-resolution-ms/],
    ['a check interval below 10 ms', { checkIntervalMs: 9 }, /--liveness-check-ms/],
    ['a check interval above 1 h', { checkIntervalMs: 3_600_001 }, /--liveness-check-ms/],
  ])('rejects %s, naming the flag', (_case, given, flag) => {
    let error: unknown;
    try {
      nodeLivenessSettings(given);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(flag) });
  });
});

describe('liveness flags', () => {
  const parse = (...args: string[]) => {
    const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined });
    for (const option of nodeLivenessOptions()) program.addOption(option);
    program.parse(args, { from: 'user' });
    return nodeLivenessFromFlags(program.opts());
  };

  it('defaults to the service defaults', () => {
    expect(parse()).toEqual(DEFAULT_NODE_LIVENESS);
  });

  it('reads --node-timeout-ms, --heartbeat-resolution-ms and --liveness-check-ms', () => {
    expect(
      parse(
        '--node-timeout-ms',
        '600',
        '--heartbeat-resolution-ms',
        '100',
        '--liveness-check-ms',
        '100',
      ),
    ).toEqual({ timeoutMs: 600, resolutionMs: 100, checkIntervalMs: 100 });
    expect(parse('--node-timeout-ms', '0').timeoutMs).toBe(0);
  });

  it('rejects what is not a whole number of milliseconds, and a timeout within the resolution', () => {
    expect(() => parse('--node-timeout-ms', '1.5')).toThrow(/whole number of milliseconds/);
    expect(() => parse('--liveness-check-ms', '-1')).toThrow();
    expect(() => parse('--node-timeout-ms', '5000')).toThrow(/above the heartbeat resolution/);
  });
});
