import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { ANALYTICS, type ReportFlowsRequest } from '@strata/bus';
import { startAnalyticsService } from '../../services/analytics/src/analytics-service';
import { startServiceHarness, type ServiceHarness } from '../support/service-harness';

// The analytics service over a real nats-server (connected as its own identity) and a real
// SQLite file: flow reports (idempotent by node and interval start) and summaries per tier pair
// and identity pair over a window; every error path answered with a typed error while the
// service keeps serving.

let h: ServiceHarness;

beforeAll(async () => {
  h = await startServiceHarness('analytics', startAnalyticsService);
}, 30_000);

afterAll(async () => {
  await h?.close();
});

const t = (minute: number) => `2025-03-01T12:${String(minute).padStart(2, '0')}:00.000Z`;
const report = (node: string, minute: number, scale = 1): ReportFlowsRequest => ({
  node,
  intervalStart: t(minute),
  intervalEnd: t(minute + 1),
  flows: [
    {
      sourceIdentity: 100,
      destinationIdentity: 200,
      sourceTier: 'web',
      destinationTier: 'db',
      packets: 10 * scale,
      bytes: 1000 * scale,
    },
    {
      sourceIdentity: 101,
      destinationIdentity: 200,
      sourceTier: 'web',
      destinationTier: 'db',
      packets: 1 * scale,
      bytes: 100 * scale,
    },
    { sourceIdentity: 300, destinationIdentity: 100, packets: 2, bytes: 128 },
  ],
});

describe('flow reports', () => {
  it('records a report once: a retry (same interval start) is acknowledged, not counted', async () => {
    expect(await h.ok(ANALYTICS.reportFlows, report('node-1', 0))).toEqual({
      node: 'node-1',
      intervalStart: t(0),
      intervalEnd: t(1),
      flows: 3,
      recorded: true,
    });
    expect(await h.ok(ANALYTICS.reportFlows, report('node-1', 0))).toMatchObject({
      recorded: false,
    });
    const commandId = randomUUID();
    await h.ok(ANALYTICS.reportFlows, report('node-1', 1), commandId);
    expect(await h.ok(ANALYTICS.reportFlows, report('node-1', 1), commandId)).toMatchObject({
      recorded: false,
    });
    await h.ok(ANALYTICS.reportFlows, report('node-2.example', 0, 3));
  });

  it('refuses other counters for a recorded interval, and overlapping intervals', async () => {
    expect(await h.code(ANALYTICS.reportFlows, report('node-1', 0, 2))).toBe('AlreadyExists');
    expect(
      await h.code(ANALYTICS.reportFlows, {
        ...report('node-1', 0),
        intervalStart: '2025-03-01T12:00:30.000Z',
      }),
    ).toBe('AlreadyExists');
  });

  it('sums per tier pair and identity pair over a window, of every node or one', async () => {
    const all = await h.ok(ANALYTICS.flowSummary, { from: t(0), to: t(2) });
    expect(all).toEqual({
      from: t(0),
      to: t(2),
      node: '',
      reports: 3,
      packets: 10 + 1 + 2 + (10 + 1 + 2) + (30 + 3 + 2),
      bytes: 1100 + 128 + 1100 + 128 + 3300 + 128,
      tierPairs: [
        { sourceTier: '', destinationTier: '', packets: 6, bytes: 384 },
        { sourceTier: 'web', destinationTier: 'db', packets: 55, bytes: 5500 },
      ],
      identityPairs: [
        { sourceIdentity: 100, destinationIdentity: 200, packets: 50, bytes: 5000 },
        { sourceIdentity: 101, destinationIdentity: 200, packets: 5, bytes: 500 },
        { sourceIdentity: 300, destinationIdentity: 100, packets: 6, bytes: 384 },
      ],
    });
    const one = await h.ok(ANALYTICS.flowSummary, { from: t(1), to: t(2), node: 'node-1' });
    expect(one).toMatchObject({ node: 'node-1', reports: 1, packets: 13, bytes: 1228 });
    const none = await h.ok(ANALYTICS.flowSummary, { from: t(30), to: t(40) });
    expect(none).toMatchObject({ reports: 0, packets: 0, tierPairs: [], identityPairs: [] });
  });

  it.each([
    ['a node that is not a DNS name', { node: 'Node_1' }, 'InvalidName'],
    ['a bad time', { intervalStart: '12:00' }, 'InvalidTimestamp'],
    ['an end before the start', { intervalEnd: t(0) }, 'InvalidArgument'],
    [
      'identity 0',
      { flows: [{ sourceIdentity: 0, destinationIdentity: 1, packets: 1, bytes: 1 }] },
      'InvalidArgument',
    ],
    [
      'negative bytes',
      { flows: [{ sourceIdentity: 1, destinationIdentity: 2, packets: 1, bytes: -1 }] },
      'InvalidArgument',
    ],
    [
      'fractional packets',
      { flows: [{ sourceIdentity: 1, destinationIdentity: 2, packets: 0.5, bytes: 1 }] },
      'InvalidRequest',
    ],
    [
      'a bad tier',
      {
        flows: [
          { sourceIdentity: 1, destinationIdentity: 2, sourceTier: '-x', packets: 1, bytes: 1 },
        ],
      },
      'InvalidLabels',
    ],
    [
      'a pair twice',
      {
        flows: [
          { sourceIdentity: 1, destinationIdentity: 2, packets: 1, bytes: 1 },
          { sourceIdentity: 1, destinationIdentity: 2, packets: 1, bytes: 1 },
        ],
      },
      'InvalidArgument',
    ],
    [
      'a counter field unknown',
      { flows: [{ sourceIdentity: 1, destinationIdentity: 2, packets: 1, bytes: 1, drops: 0 }] },
      'UnknownField',
    ],
    ['flows missing', { flows: undefined }, 'InvalidRequest'],
    ['an unknown field', { agent: 'x' }, 'UnknownField'],
  ])('rejects %s, then still serves', async (_case, change, expected) => {
    expect(await h.code(ANALYTICS.reportFlows, { ...report('node-9', 50), ...change })).toBe(
      expected,
    );
    expect(await h.ok(ANALYTICS.flowSummary, { from: t(0), to: t(1) })).toMatchObject({
      reports: 2,
    });
  });

  it('rejects bad windows and malformed payloads with typed errors, and keeps serving', async () => {
    expect(await h.code(ANALYTICS.flowSummary, { from: t(2), to: t(2) })).toBe('InvalidArgument');
    expect(await h.code(ANALYTICS.flowSummary, { from: 'x', to: t(2) })).toBe('InvalidTimestamp');
    expect(await h.code(ANALYTICS.flowSummary, { from: t(0) })).toBe('InvalidRequest');
    expect(await h.code(ANALYTICS.flowSummary, { from: t(0), to: t(1), by: 'tier' })).toBe(
      'UnknownField',
    );
    const subject = ANALYTICS.reportFlows.subject;
    expect(await h.rawCode(subject, '{"commandId":')).toBe('MalformedPayload');
    expect(await h.rawCode(subject, '"text"')).toBe('MalformedPayload');
    expect(await h.rawCode(subject, JSON.stringify({ commandId: 'has space', data: {} }))).toBe(
      'InvalidRequest',
    );
    expect(await h.ok(ANALYTICS.flowSummary, { from: t(0), to: t(1) })).toMatchObject({
      reports: 2,
    });
  });
});
