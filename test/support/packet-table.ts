import { expect } from '@jest/globals';
import type { ConnectionKey } from '../../dataplane/bpf/maps';
import type {
  DropCounts,
  RunResult,
  StatCounts,
  TrafficDelta,
  VerdictDelta,
  World,
} from '../../dataplane/bpf/testing/harness';

/** One row of a BPF packet table: a frame, the maps it meets, and what must come of it. */
export interface PacketRow<Verdict extends string> {
  readonly name: string;
  readonly frame: Buffer;
  /** Map contents, if not the standard world. */
  readonly world?: (standard: World) => World;
  readonly only?: 'tc' | 'xdp';
  readonly verdict: Verdict;
  /** Exact output frame for a redirect or reply; a pass must leave the frame as it was. */
  readonly output?: Buffer;
  /** Field checks on the output, for readable failures. */
  readonly check?: (output: Buffer) => void;
  readonly drops?: DropCounts;
  readonly stats?: StatCounts;
  readonly traffic?: TrafficDelta[];
  /** Policy verdicts counted per rule and kind (strata_verdicts). */
  readonly verdicts?: VerdictDelta[];
  /** If given: exactly the connections conntrack opened. */
  readonly opened?: ConnectionKey[];
}

/** The rows of `rows` that run in `mode`. */
export function rowsFor<Row extends { readonly only?: 'tc' | 'xdp' }>(
  rows: readonly Row[],
  mode: string,
): Row[] {
  return rows.filter((row) => row.only === undefined || row.only === mode);
}

/** Checks a run against its row: the action, the output frame, and every counter that moved. */
export function expectRow<Verdict extends string>(
  result: RunResult,
  row: PacketRow<Verdict>,
  action: number,
): void {
  expect(result.action).toBe(action);
  if (row.verdict === 'pass') expect(result.data.toString('hex')).toBe(row.frame.toString('hex'));
  if (row.output) expect(result.data.toString('hex')).toBe(row.output.toString('hex'));
  row.check?.(result.data);
  expect(result.drops).toEqual(row.drops ?? {});
  expect(result.stats).toEqual(row.stats ?? {});
  expect(result.traffic).toEqual(row.traffic ?? []);
  expect(result.verdicts).toEqual(row.verdicts ?? []);
  if (row.opened) expect(result.opened).toEqual(row.opened);
}
