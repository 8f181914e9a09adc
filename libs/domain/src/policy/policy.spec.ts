import { specFor } from '../testing/given-when-then';
import {
  policyDecider,
  policyStream,
  type CreatePolicy,
  type PolicyCreated,
  type PolicyDeleted,
  type UpdatePolicy,
} from './policy';

const given = specFor(policyDecider);

const create = (data: Partial<CreatePolicy['data']> = {}): CreatePolicy => ({
  type: 'CreatePolicy',
  data: {
    policyId: 'pol-1',
    name: 'web-from-lb',
    tier: 'application',
    priority: 100,
    action: 'allow',
    direction: 'ingress',
    selector: { matchLabels: { tier: 'web' } },
    peers: [{ matchLabels: { tier: 'lb' } }, { matchLabels: { app: 'probe' } }],
    ports: [
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 8000, endPort: 8080 },
      { protocol: 'TCP', port: 443 },
    ],
    ...data,
  },
});
const created: PolicyCreated = {
  type: 'PolicyCreated',
  data: {
    policyId: 'pol-1',
    name: 'web-from-lb',
    tier: 'application',
    priority: 100,
    action: 'allow',
    direction: 'ingress',
    selector: { matchLabels: { tier: 'web' } },
    peers: [{ matchLabels: { app: 'probe' } }, { matchLabels: { tier: 'lb' } }],
    ports: [
      { protocol: 'TCP', port: 443, endPort: 443 },
      { protocol: 'TCP', port: 8000, endPort: 8080 },
      { protocol: 'UDP', port: 53, endPort: 53 },
    ],
    staged: false,
  },
};
const deleted: PolicyDeleted = { type: 'PolicyDeleted', data: { policyId: 'pol-1' } };
const update = (data: Partial<UpdatePolicy['data']>): UpdatePolicy => ({
  type: 'UpdatePolicy',
  data: { policyId: 'pol-1', ...data },
});

describe('Policy', () => {
  it('lives in stream policy-<id>', () => {
    expect(policyStream('pol-1')).toBe('policy-pol-1');
  });

  describe('CreatePolicy', () => {
    it('creates a policy with peers and ports in canonical order', () => {
      given([]).when(create()).then([created]);
    });

    it('defaults to any peer, every port, not staged; an empty selector selects everything', () => {
      given([])
        .when(
          create({
            selector: { matchLabels: {} },
            action: 'deny',
            tier: 'baseline',
            peers: undefined,
            ports: undefined,
          }),
        )
        .then([
          {
            type: 'PolicyCreated',
            data: {
              ...created.data,
              selector: { matchLabels: {} },
              action: 'deny',
              tier: 'baseline',
              peers: [],
              ports: [],
            },
          },
        ]);
    });

    it('keeps each peer and port once, and takes SCTP and staged', () => {
      given([])
        .when(
          create({
            peers: [{ matchLabels: { tier: 'lb' } }, { matchLabels: { tier: 'lb' } }],
            ports: [
              { protocol: 'SCTP', port: 9 },
              { protocol: 'SCTP', port: 9, endPort: 9 },
            ],
            staged: true,
          }),
        )
        .then([
          {
            type: 'PolicyCreated',
            data: {
              ...created.data,
              peers: [{ matchLabels: { tier: 'lb' } }],
              ports: [{ protocol: 'SCTP', port: 9, endPort: 9 }],
              staged: true,
            },
          },
        ]);
    });

    it('is idempotent, and rejects other settings for the same id', () => {
      given([created]).when(create()).thenNothingHappened();
      given([created])
        .when(create({ priority: 101 }))
        .thenThrows('AlreadyExists', /other settings/);
    });

    it('does not reuse a deleted id', () => {
      given([created, deleted])
        .when(create())
        .thenThrows('AlreadyExists', /not reused/);
    });

    it.each([
      ['a bad id', { policyId: 'a b' }, 'InvalidId'],
      ['an uppercase name', { name: 'Web' }, 'InvalidName'],
      ['an unknown tier', { tier: 'gold' as never }, 'InvalidArgument'],
      ['an unknown action', { action: 'drop' as never }, 'InvalidArgument'],
      ['an unknown direction', { direction: 'both' as never }, 'InvalidArgument'],
      ['a negative priority', { priority: -1 }, 'InvalidArgument'],
      ['a fractional priority', { priority: 1.5 }, 'InvalidArgument'],
      ['a priority too large', { priority: 65_536 }, 'InvalidArgument'],
      ['pass in the baseline tier', { tier: 'baseline', action: 'pass' }, 'InvalidArgument'],
      ['a bad selector label', { selector: { matchLabels: { 'a b': 'x' } } }, 'InvalidLabels'],
      ['a selector without matchLabels', { selector: {} as never }, 'InvalidLabels'],
      ['a bad peer label', { peers: [{ matchLabels: { tier: 'not ok' } }] }, 'InvalidLabels'],
      ['port 0', { ports: [{ protocol: 'TCP', port: 0 }] }, 'InvalidPort'],
      ['port 65536', { ports: [{ protocol: 'TCP', port: 65_536 }] }, 'InvalidPort'],
      [
        'a range ending before it starts',
        { ports: [{ protocol: 'TCP', port: 90, endPort: 80 }] },
        'InvalidPort',
      ],
      ['ICMP', { ports: [{ protocol: 'ICMP' as never, port: 1 }] }, 'InvalidPort'],
      ['staged that is not a boolean', { staged: 'yes' as never }, 'InvalidArgument'],
    ] as const)('rejects %s', (_case, data, code) => {
      given([])
        .when(create(data as Partial<CreatePolicy['data']>))
        .thenThrows(code);
    });
  });

  describe('UpdatePolicy', () => {
    it('changes the fields given and carries every field in the event', () => {
      given([created])
        .when(update({ priority: 5, staged: true, ports: [] }))
        .then([
          {
            type: 'PolicyUpdated',
            data: { ...created.data, priority: 5, staged: true, ports: [] },
          },
        ]);
    });

    it('appends nothing when nothing changes', () => {
      given([created]).when(update({})).thenNothingHappened();
      given([created])
        .when(
          update({ peers: [{ matchLabels: { tier: 'lb' } }, { matchLabels: { app: 'probe' } }] }),
        )
        .thenNothingHappened();
    });

    it('validates the result as a whole: pass cannot move to baseline', () => {
      given([created])
        .when(update({ action: 'pass' }))
        .then([{ type: 'PolicyUpdated', data: { ...created.data, action: 'pass' } }]);
      given([created, { type: 'PolicyUpdated', data: { ...created.data, action: 'pass' } }])
        .when(update({ tier: 'baseline' }))
        .thenThrows('InvalidArgument', /baseline/);
    });

    it('is NotFound for a policy that does not exist or was deleted', () => {
      given([])
        .when(update({ priority: 1 }))
        .thenThrows('NotFound', /not found/);
      given([created, deleted])
        .when(update({ priority: 1 }))
        .thenThrows('NotFound', /deleted/);
    });
  });

  describe('DeletePolicy', () => {
    const del = { type: 'DeletePolicy', data: { policyId: 'pol-1' } } as const;
    it('deletes, idempotently', () => {
      given([created]).when(del).then([deleted]);
      given([created, deleted]).when(del).thenNothingHappened();
    });

    it('is NotFound for a policy that never existed', () => {
      given([]).when(del).thenThrows('NotFound');
    });
  });
});
