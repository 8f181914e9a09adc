/**
 * From the rounds' samples to the printed tables: medians per setup, ratios against kernel VXLAN
 * and against routing without overlay, the aims per Strata mode, and the raw values. Pure.
 */
import { renderTable } from '../../services/cli/src/output/table';
import { formatRate, formatRatio, median } from '../support/stats';
import type { SetupId } from './setups';

export interface Sample {
  readonly rttMs: number;
  readonly tcpGbps: number;
  readonly retransmits: number;
  readonly csumErrors: number;
  readonly pps: number;
  readonly deliveredPct: number;
}

/** One round of one setup: its figures, or why it could not be measured. */
export type Outcome =
  | { readonly status: 'measured'; readonly sample: Sample }
  | { readonly status: 'failed'; readonly reason: string };

export interface Column {
  readonly id: SetupId;
  readonly label: string;
  readonly outcomes: readonly Outcome[];
}

type Medians = Omit<Sample, 'csumErrors'> & { readonly csumErrors: number; readonly n: number };

/** Medians over the measured rounds; csumErrors is the sum. Undefined if none was measured. */
export function medians(outcomes: readonly Outcome[]): Medians | undefined {
  const samples = measured(outcomes);
  if (samples.length === 0) return undefined;
  const of = (pick: (s: Sample) => number) => median(samples.map(pick));
  return {
    rttMs: of((s) => s.rttMs),
    tcpGbps: of((s) => s.tcpGbps),
    retransmits: of((s) => s.retransmits),
    pps: of((s) => s.pps),
    deliveredPct: of((s) => s.deliveredPct),
    csumErrors: samples.reduce((sum, s) => sum + s.csumErrors, 0),
    n: samples.length,
  };
}

function measured(outcomes: readonly Outcome[]): Sample[] {
  return outcomes.flatMap((o) => (o.status === 'measured' ? [o.sample] : []));
}

const NA = 'n/a';

/** The main table: one column per setup, medians and ratios in rows. */
export function resultTable(columns: readonly Column[], rounds: number): string {
  const stats = new Map(columns.map((c) => [c.id, medians(c.outcomes)] as const));
  const kvxlan = stats.get('kvxlan');
  const routing = stats.get('routing');
  const cells = (format: (m: Medians) => string) =>
    columns.map((c) => {
      const m = stats.get(c.id);
      return m === undefined ? NA : format(m);
    });
  const ratio = (pick: (m: Medians) => number, base: Medians | undefined) => (m: Medians) =>
    base === undefined ? '-' : formatRatio(pick(m) / pick(base));
  const gbps = (m: Medians) => m.tcpGbps;
  const pps = (m: Medians) => m.pps;
  const rows: string[][] = [
    ['TCP, 1 stream, Gbit/s', ...cells((m) => m.tcpGbps.toFixed(2))],
    ['  vs kernel VXLAN', ...cells(ratio(gbps, kvxlan))],
    ['  vs no overlay', ...cells(ratio(gbps, routing))],
    ['  retransmits', ...cells((m) => formatRate(m.retransmits))],
    ['  TcpInCsumErrors (sum, all rounds)', ...cells((m) => String(m.csumErrors))],
    ['64 B packets/s, 1 core', ...cells((m) => formatRate(m.pps))],
    ['  vs kernel VXLAN', ...cells(ratio(pps, kvxlan))],
    ['  vs no overlay', ...cells(ratio(pps, routing))],
    ['  delivered %', ...cells((m) => m.deliveredPct.toFixed(1))],
    ['ping RTT avg, ms', ...cells((m) => m.rttMs.toFixed(3))],
    ['rounds measured', ...cells((m) => `${m.n} of ${rounds}`)],
  ];
  return renderTable([`metric (median of ${rounds})`, ...columns.map((c) => c.label)], rows);
}

/** The aims, per Strata mode: value and whether the median meets it. */
export function aimsTable(columns: readonly Column[]): string {
  const stats = new Map(columns.map((c) => [c.id, medians(c.outcomes)] as const));
  const kvxlan = stats.get('kvxlan');
  const routing = stats.get('routing');
  const modes = columns.filter((c) => c.id === 'strata-tc' || c.id === 'strata-xdp');
  const verdict = (value: number | undefined, aim: number) => {
    if (value === undefined || !Number.isFinite(value)) return NA;
    if (value >= aim) return `${formatRatio(value)} met`;
    // Two decimals can round a miss up to the aim (0.996 -> 1.00x): show three then.
    const shown = Number(value.toFixed(2)) >= aim ? `${value.toFixed(3)}x` : formatRatio(value);
    return `${shown} NOT met`;
  };
  const aims = [
    {
      label: 'TCP >= kernel VXLAN (>= 1x)',
      value: (m: Medians) => (kvxlan ? m.tcpGbps / kvxlan.tcpGbps : undefined),
      aim: 1,
    },
    {
      label: 'TCP >= 0.9x no overlay',
      value: (m: Medians) => (routing ? m.tcpGbps / routing.tcpGbps : undefined),
      aim: 0.9,
    },
    {
      label: '64 B pps >= 4x kernel VXLAN',
      value: (m: Medians) => (kvxlan ? m.pps / kvxlan.pps : undefined),
      aim: 4,
    },
  ];
  const rows = aims.map(({ label, value, aim }) => [
    label,
    ...modes.map((c) => {
      const m = stats.get(c.id);
      return verdict(m === undefined ? undefined : value(m), aim);
    }),
  ]);
  return renderTable(['aim (Strata, medians)', ...modes.map((c) => c.label)], rows);
}

/** Every round's values, so the spread behind each median shows. */
export function rawTable(columns: readonly Column[]): string {
  const rows = columns.map((c) => {
    const each = (format: (s: Sample) => string) =>
      c.outcomes.map((o) => (o.status === 'measured' ? format(o.sample) : NA)).join(' / ');
    return [
      c.label,
      each((s) => s.tcpGbps.toFixed(2)),
      each((s) => `${Math.round(s.pps / 1000)}k`),
      each((s) => s.rttMs.toFixed(3)),
    ];
  });
  return renderTable(['setup, per round', 'TCP Gbit/s', '64 B pps', 'RTT ms'], rows);
}

/** Why a setup (or a round of it) could not be measured. */
export function failures(columns: readonly Column[]): string[] {
  return columns.flatMap((c) =>
    c.outcomes.flatMap((o, round) =>
      o.status === 'failed' ? [`${c.label}, round ${round + 1}: ${o.reason}`] : [],
    ),
  );
}
