import { specFor } from '../testing/given-when-then';
import {
  flowReportDecider,
  flowReportStream,
  type FlowsReported,
  type ReportFlows,
} from './flow-report';

const given = specFor(flowReportDecider);
const t = (minute: number) => `2025-03-01T12:${String(minute).padStart(2, '0')}:00.000Z`;

const report = (data: Partial<ReportFlows['data']> = {}): ReportFlows => ({
  type: 'ReportFlows',
  data: {
    node: 'node-1',
    intervalStart: t(0),
    intervalEnd: t(1),
    flows: [
      { sourceIdentity: 300, destinationIdentity: 200, packets: 5, bytes: 500 },
      {
        sourceIdentity: 100,
        destinationIdentity: 200,
        sourceTier: 'web',
        destinationTier: 'db',
        packets: 10,
        bytes: 1500,
      },
    ],
    ...data,
  },
});
const reported: FlowsReported = {
  type: 'FlowsReported',
  data: {
    node: 'node-1',
    intervalStart: t(0),
    intervalEnd: t(1),
    flows: [
      {
        sourceIdentity: 100,
        destinationIdentity: 200,
        sourceTier: 'web',
        destinationTier: 'db',
        packets: 10,
        bytes: 1500,
      },
      {
        sourceIdentity: 300,
        destinationIdentity: 200,
        sourceTier: '',
        destinationTier: '',
        packets: 5,
        bytes: 500,
      },
    ],
  },
};

describe('FlowReport', () => {
  it('lives in stream flowreport-<node>', () => {
    expect(flowReportStream('node-1.example')).toBe('flowreport-node-1.example');
  });

  it('records an interval, counters sorted by identity pair, missing tiers as ""', () => {
    given([]).when(report()).then([reported]);
  });

  it('records an idle interval (no flows) too', () => {
    given([])
      .when(report({ flows: [] }))
      .then([{ type: 'FlowsReported', data: { ...reported.data, flows: [] } }]);
  });

  it('is idempotent by interval start: a retry appends nothing', () => {
    given([reported]).when(report()).thenNothingHappened();
  });

  it('refuses other counters for a recorded interval, and overlapping intervals', () => {
    given([reported])
      .when(report({ flows: [] }))
      .thenThrows('AlreadyExists', /other counters/);
    given([reported])
      .when(report({ intervalStart: t(0), intervalEnd: t(2) }))
      .thenThrows('AlreadyExists', /other counters/);
    given([reported])
      .when(report({ intervalStart: '2025-03-01T12:00:30.000Z', intervalEnd: t(2) }))
      .thenThrows('AlreadyExists', /overlaps/);
  });

  it('takes the next interval, and an earlier one reported late', () => {
    const next = report({ intervalStart: t(1), intervalEnd: t(2) });
    const state = given([reported])
      .when(next)
      .then([
        {
          type: 'FlowsReported',
          data: { ...reported.data, intervalStart: t(1), intervalEnd: t(2) },
        },
      ]);
    expect(state).toMatchObject({ status: 'reporting', intervals: [{}, {}] });
    given([{ ...reported, data: { ...reported.data, intervalStart: t(5), intervalEnd: t(6) } }])
      .when(report())
      .then([reported]);
  });

  it.each([
    ['a node name that is not a DNS subdomain', { node: 'Node_1' }, 'InvalidName'],
    ['a bad start', { intervalStart: 'now' }, 'InvalidTimestamp'],
    ['an end before the start', { intervalEnd: t(0) }, 'InvalidArgument'],
    ['an interval over an hour', { intervalEnd: '2025-03-01T13:00:00.001Z' }, 'InvalidArgument'],
    [
      'identity 0',
      { flows: [{ sourceIdentity: 0, destinationIdentity: 1, packets: 1, bytes: 1 }] },
      'InvalidArgument',
    ],
    [
      'identity 65536',
      { flows: [{ sourceIdentity: 1, destinationIdentity: 65_536, packets: 1, bytes: 1 }] },
      'InvalidArgument',
    ],
    [
      'negative packets',
      { flows: [{ sourceIdentity: 1, destinationIdentity: 2, packets: -1, bytes: 1 }] },
      'InvalidArgument',
    ],
    [
      'unsafe byte counts',
      { flows: [{ sourceIdentity: 1, destinationIdentity: 2, packets: 1, bytes: 2 ** 53 }] },
      'InvalidArgument',
    ],
    [
      'a tier that is not a label value',
      {
        flows: [
          { sourceIdentity: 1, destinationIdentity: 2, sourceTier: 'a b', packets: 1, bytes: 1 },
        ],
      },
      'InvalidLabels',
    ],
    [
      'one pair counted twice',
      {
        flows: [
          { sourceIdentity: 1, destinationIdentity: 2, packets: 1, bytes: 1 },
          { sourceIdentity: 1, destinationIdentity: 2, packets: 2, bytes: 2 },
        ],
      },
      'InvalidArgument',
    ],
  ] as const)('rejects %s', (_case, data, code) => {
    given([])
      .when(report(data as Partial<ReportFlows['data']>))
      .thenThrows(code);
  });

  it('refuses a report for another node on this stream', () => {
    given([reported])
      .when(report({ node: 'node-2', intervalStart: t(3), intervalEnd: t(4) }))
      .thenThrows('InvalidArgument', /node-1/);
  });
});
