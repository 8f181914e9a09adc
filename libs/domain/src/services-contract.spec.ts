/**
 * The proto contract of the discovery, policy and analytics events, checked the way
 * contract.spec.ts checks the others: events made by running commands through the deciders
 * must be their proto message in the proto3 JSON mapping, every field present, none extra.
 */
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { file_strata_v1_network_events } from '@strata/proto/network_events_pb';
import {
  backendHealthDecider,
  flowReportDecider,
  policyDecider,
  type BackendHealthEvent,
  type Decider,
  type FlowReportEvent,
  type PolicyEvent,
} from './index';

function play<S, C extends { type: string }, E extends { type: string }>(
  decider: Decider<S, C, E>,
  commands: C[],
): E[] {
  const events: E[] = [];
  let state = decider.initialState();
  for (const command of commands) {
    const decided = decider.decide(command, state);
    state = decided.reduce(decider.evolve, state);
    events.push(...decided);
  }
  return events;
}

const produced: (BackendHealthEvent | PolicyEvent | FlowReportEvent)[] = [
  ...play(backendHealthDecider, [
    {
      type: 'ReportBackendHealth',
      data: { serviceId: 's', backend: 'e', status: 'unhealthy', at: '2025-03-01T12:00:00Z' },
    },
  ]),
  ...play(policyDecider, [
    {
      type: 'CreatePolicy',
      data: {
        policyId: 'p',
        name: 'p',
        tier: 'platform',
        priority: 1,
        action: 'deny',
        direction: 'egress',
        selector: { matchLabels: { tier: 'web' } },
        peers: [{ matchLabels: { tier: 'db' } }],
        ports: [{ protocol: 'TCP', port: 5432 }],
      },
    },
    { type: 'UpdatePolicy', data: { policyId: 'p', staged: true } },
    { type: 'DeletePolicy', data: { policyId: 'p' } },
  ]),
  ...play(flowReportDecider, [
    {
      type: 'ReportFlows',
      data: {
        node: 'n1',
        intervalStart: '2025-03-01T12:00:00Z',
        intervalEnd: '2025-03-01T12:01:00Z',
        flows: [
          { sourceIdentity: 1, destinationIdentity: 2, sourceTier: 'a', packets: 1, bytes: 64 },
        ],
      },
    },
  ]),
];

const messages = new Map(
  file_strata_v1_network_events.messages.map((message) => [message.name, message]),
);

describe('event contract of discovery, policy and analytics', () => {
  it('exercises every event type', () => {
    expect(new Set(produced.map((event) => event.type))).toEqual(
      new Set([
        'BackendHealthChanged',
        'PolicyCreated',
        'PolicyUpdated',
        'PolicyDeleted',
        'FlowsReported',
      ]),
    );
  });

  it.each(produced.map((event) => [event.type, event] as const))(
    '%s data is its message in proto3 JSON',
    (type, event) => {
      const schema = messages.get(type);
      expect(schema).toBeDefined();
      expect(() => fromJson(schema!, event.data as unknown as JsonValue)).not.toThrow();
      expect(Object.keys(event.data).sort()).toEqual(
        schema!.fields.map((field) => field.jsonName).sort(),
      );
    },
  );
});
