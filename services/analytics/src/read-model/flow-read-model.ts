import { Inject, Injectable } from '@nestjs/common';
import {
  CaughtUpReadModel,
  EVENT_STORE,
  type FlowSummary,
  type IdentityPairTotal,
  type TierPairTotal,
} from '@strata/bus';
import { parseTimestamp, type FlowsReported, type Timestamp } from '@strata/domain';
import type { EventStore, RecordedEvent } from '@strata/eventstore';

interface Report {
  readonly start: number;
  readonly data: FlowsReported['data'];
}

/**
 * Every flow report, folded from `flowreport-*` and caught up per query, summed over a window
 * on demand. A report counts in a window when its interval starts in it: counters are never
 * split. (Reports are scanned per query; pre-aggregated buckets come with the accounting issue.)
 */
@Injectable()
export class FlowReadModel extends CaughtUpReadModel {
  private readonly reports: Report[] = [];

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    super(store, ['flowreport']);
  }

  async summary(from: Timestamp, to: Timestamp, node?: string): Promise<FlowSummary> {
    await this.catchUp();
    const [start, end] = [parseTimestamp(from, 'window start'), parseTimestamp(to, 'window end')];
    const tiers = new Map<string, TierPairTotal>();
    const identities = new Map<string, IdentityPairTotal>();
    let reports = 0;
    let packets = 0;
    let bytes = 0;
    for (const report of this.reports) {
      if (report.start < start || report.start >= end) continue;
      if (node !== undefined && report.data.node !== node) continue;
      reports++;
      for (const flow of report.data.flows) {
        packets += flow.packets;
        bytes += flow.bytes;
        add(tiers, JSON.stringify([flow.sourceTier, flow.destinationTier]), flow, {
          sourceTier: flow.sourceTier,
          destinationTier: flow.destinationTier,
        });
        add(identities, `${flow.sourceIdentity}>${flow.destinationIdentity}`, flow, {
          sourceIdentity: flow.sourceIdentity,
          destinationIdentity: flow.destinationIdentity,
        });
      }
    }
    return {
      from,
      to,
      node: node ?? '',
      reports,
      packets,
      bytes,
      tierPairs: [...tiers.values()].sort(
        (a, b) =>
          compare(a.sourceTier, b.sourceTier) || compare(a.destinationTier, b.destinationTier),
      ),
      identityPairs: [...identities.values()].sort(
        (a, b) =>
          a.sourceIdentity - b.sourceIdentity || a.destinationIdentity - b.destinationIdentity,
      ),
    };
  }

  protected apply(event: RecordedEvent): void {
    if (event.type !== 'FlowsReported') return;
    const data = event.data as FlowsReported['data'];
    this.reports.push({ start: parseTimestamp(data.intervalStart, 'interval start'), data });
  }
}

function add<T extends { packets: number; bytes: number }>(
  totals: Map<string, T>,
  key: string,
  counts: { packets: number; bytes: number },
  identity: Omit<T, 'packets' | 'bytes'>,
): void {
  const total = totals.get(key);
  totals.set(key, {
    ...identity,
    packets: (total?.packets ?? 0) + counts.packets,
    bytes: (total?.bytes ?? 0) + counts.bytes,
  } as T);
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
