import { specFor } from '../testing/given-when-then';
import {
  policyDecider,
  policyStream,
  readPolicySpec,
  type ApplyPolicy,
  type CreatePolicy,
  type PolicyCreated,
  type PolicyDeleted,
  type PolicyUpdated,
  type UpdatePolicy,
} from './policy';
import { fnv1a32, policyRuleId } from './rule-id';
import type { PolicySpec } from './model';

const given = specFor(policyDecider);

const create = (data: Partial<CreatePolicy['data']> = {}): CreatePolicy => ({
  type: 'CreatePolicy',
  data: {
    policyId: 'pol-1',
    name: 'web-from-lb',
    tier: 'application',
    priority: 100,
    selector: { matchLabels: { tier: 'web' } },
    ingress: [
      {
        action: 'allow',
        peers: [
          { selector: { matchLabels: { tier: 'lb' } } },
          { cidr: '10.0.0.0/8', except: ['10.9.0.0/16', '10.1.0.0/16'] },
          {
            selector: {
              matchExpressions: [
                { key: 'env', operator: 'NotIn', values: ['prod', 'dev', 'prod'] },
                { key: 'app', operator: 'Exists' },
              ],
            },
          },
        ],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', name: 'http' },
          { protocol: 'TCP', port: 8000, endPort: 8080 },
          { protocol: 'TCP', port: 443 },
        ],
      },
    ],
    ...data,
  },
});
const spec: PolicySpec = {
  name: 'web-from-lb',
  tier: 'application',
  priority: 100,
  selector: { matchLabels: { tier: 'web' }, matchExpressions: [] },
  directions: ['ingress'],
  ingress: [
    {
      action: 'allow',
      peers: [
        { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.9.0.0/16'] },
        { selector: { matchLabels: { tier: 'lb' }, matchExpressions: [] } },
        {
          selector: {
            matchLabels: {},
            matchExpressions: [
              { key: 'app', operator: 'Exists', values: [] },
              { key: 'env', operator: 'NotIn', values: ['dev', 'prod'] },
            ],
          },
        },
      ],
      ports: [
        { protocol: 'TCP', port: 443, endPort: 443 },
        { protocol: 'TCP', port: 8000, endPort: 8080 },
        { protocol: 'TCP', name: 'http' },
        { protocol: 'UDP', port: 53, endPort: 53 },
      ],
    },
  ],
  egress: [],
  staged: false,
  source: { kind: 'strata', namespace: '', name: '' },
};
const created: PolicyCreated = { type: 'PolicyCreated', data: { policyId: 'pol-1', ...spec } };
const deleted: PolicyDeleted = { type: 'PolicyDeleted', data: { policyId: 'pol-1' } };
const updated = (changes: Partial<PolicySpec>): PolicyUpdated => ({
  type: 'PolicyUpdated',
  data: { ...created.data, ...changes },
});
const update = (data: Partial<UpdatePolicy['data']>): UpdatePolicy => ({
  type: 'UpdatePolicy',
  data: { policyId: 'pol-1', ...data },
});
const apply = (data: Partial<ApplyPolicy['data']> = {}): ApplyPolicy => ({
  type: 'ApplyPolicy',
  data: { ...create().data, ...data },
});
const denyAll = {
  name: 'deny-all',
  tier: 'application',
  priority: 1000,
  selector: {},
  directions: ['ingress', 'egress'],
} as const;

describe('Policy', () => {
  it('lives in stream policy-<id>', () => {
    expect(policyStream('pol-1')).toBe('policy-pol-1');
  });

  describe('CreatePolicy', () => {
    it('creates a policy in canonical form (sorted selectors, peers, ports, except, values)', () => {
      given([]).when(create()).then([created]);
    });

    it('takes directions from the rules by default; empty selector, no rules, not staged', () => {
      given([])
        .when(
          create({
            selector: { matchLabels: {} },
            tier: 'baseline',
            ingress: undefined,
            egress: [{ action: 'deny' }],
          }),
        )
        .then([
          {
            type: 'PolicyCreated',
            data: {
              ...created.data,
              selector: { matchLabels: {}, matchExpressions: [] },
              tier: 'baseline',
              directions: ['egress'],
              ingress: [],
              egress: [{ action: 'deny', peers: [], ports: [] }],
            },
          },
        ]);
    });

    it('takes a direction without rules: it isolates (Kubernetes default deny)', () => {
      given([])
        .when({ type: 'CreatePolicy', data: { policyId: 'deny-all', ...denyAll } })
        .then([
          {
            type: 'PolicyCreated',
            data: {
              policyId: 'deny-all',
              ...denyAll,
              selector: { matchLabels: {}, matchExpressions: [] },
              directions: ['ingress', 'egress'],
              ingress: [],
              egress: [],
              staged: false,
              source: { kind: 'strata', namespace: '', name: '' },
            },
          },
        ]);
    });

    it('keeps each peer, port and expression once; keeps the order of rules', () => {
      const ingress = [
        { action: 'deny' as const, ports: [{ protocol: 'SCTP' as const, port: 9 }] },
        {
          action: 'allow' as const,
          peers: [
            { selector: { matchLabels: { tier: 'lb' } } },
            { selector: { matchLabels: { tier: 'lb' }, matchExpressions: [] } },
          ],
          ports: [
            { protocol: 'SCTP' as const, port: 9 },
            { protocol: 'SCTP' as const, port: 9, endPort: 9 },
          ],
        },
      ];
      given([])
        .when(create({ ingress, staged: true }))
        .then([
          {
            type: 'PolicyCreated',
            data: {
              ...created.data,
              ingress: [
                {
                  action: 'deny',
                  peers: [],
                  ports: [{ protocol: 'SCTP', port: 9, endPort: 9 }],
                },
                {
                  action: 'allow',
                  peers: [{ selector: { matchLabels: { tier: 'lb' }, matchExpressions: [] } }],
                  ports: [{ protocol: 'SCTP', port: 9, endPort: 9 }],
                },
              ],
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

    const rule = (r: object) => ({ ingress: [{ action: 'allow', ...r }] }) as never;
    it.each([
      ['a bad id', { policyId: 'a b' }, 'InvalidId'],
      ['an uppercase name', { name: 'Web' }, 'InvalidName'],
      ['an unknown tier', { tier: 'gold' as never }, 'InvalidArgument'],
      ['an unknown action', { ingress: [{ action: 'drop' as never }] }, 'InvalidArgument'],
      ['an unknown direction', { directions: ['both' as never] }, 'InvalidArgument'],
      ['no direction at all', { directions: [], ingress: [] }, 'InvalidArgument'],
      ['rules for a direction not listed', { directions: ['egress'] }, 'InvalidArgument'],
      ['a negative priority', { priority: -1 }, 'InvalidArgument'],
      ['a fractional priority', { priority: 1.5 }, 'InvalidArgument'],
      ['a priority too large', { priority: 65_536 }, 'InvalidArgument'],
      [
        'pass in the baseline tier',
        { tier: 'baseline', ingress: [{ action: 'pass' }] },
        'InvalidArgument',
      ],
      ['a bad selector label', { selector: { matchLabels: { 'a b': 'x' } } }, 'InvalidLabels'],
      [
        'In without values',
        { selector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } },
        'InvalidLabels',
      ],
      [
        'Exists with values',
        { selector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] } },
        'InvalidLabels',
      ],
      [
        'an unknown operator',
        { selector: { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] } },
        'InvalidArgument',
      ],
      [
        'a bad expression key',
        { selector: { matchExpressions: [{ key: '-a', operator: 'Exists' }] } },
        'InvalidLabels',
      ],
      [
        'a bad expression value',
        { selector: { matchExpressions: [{ key: 'a', operator: 'In', values: ['a b'] }] } },
        'InvalidLabels',
      ],
      [
        'a bad peer label',
        rule({ peers: [{ selector: { matchLabels: { tier: 'not ok' } } }] }),
        'InvalidLabels',
      ],
      ['a peer with neither', rule({ peers: [{}] }), 'InvalidArgument'],
      [
        'a peer with both',
        rule({ peers: [{ selector: {}, cidr: '10.0.0.0/8' }] }),
        'InvalidArgument',
      ],
      ['a CIDR with host bits', rule({ peers: [{ cidr: '10.0.0.1/8' }] }), 'InvalidCidr'],
      [
        'an except outside the cidr',
        rule({ peers: [{ cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] }] }),
        'InvalidCidr',
      ],
      [
        'an except equal to the cidr',
        rule({ peers: [{ cidr: '10.0.0.0/16', except: ['10.0.0.0/16'] }] }),
        'InvalidCidr',
      ],
      [
        'except on a selector peer',
        rule({ peers: [{ selector: {}, except: ['10.0.0.0/16'] }] }),
        'InvalidArgument',
      ],
      ['port 0', rule({ ports: [{ protocol: 'TCP', port: 0 }] }), 'InvalidPort'],
      ['port 65536', rule({ ports: [{ protocol: 'TCP', port: 65_536 }] }), 'InvalidPort'],
      [
        'a range ending before it starts',
        rule({ ports: [{ protocol: 'TCP', port: 90, endPort: 80 }] }),
        'InvalidPort',
      ],
      ['ICMP', rule({ ports: [{ protocol: 'ICMP', port: 1 }] }), 'InvalidPort'],
      ['a named port of digits', rule({ ports: [{ protocol: 'TCP', name: '80' }] }), 'InvalidPort'],
      [
        'a named port too long',
        rule({ ports: [{ protocol: 'TCP', name: 'abcdefghijklmnop' }] }),
        'InvalidPort',
      ],
      ['a named port with --', rule({ ports: [{ protocol: 'TCP', name: 'a--b' }] }), 'InvalidPort'],
      [
        'a port with name and number',
        rule({ ports: [{ protocol: 'TCP', name: 'http', port: 80 }] }),
        'InvalidPort',
      ],
      [
        '257 rules',
        { ingress: many(257, () => ({ action: 'allow' })) as never },
        'InvalidArgument',
      ],
      [
        '257 peers',
        rule({ peers: many(257, (i) => ({ cidr: `10.${i >> 8}.${i & 255}.0/24` })) }),
        'InvalidArgument',
      ],
      [
        '257 ports',
        rule({ ports: many(257, (i) => ({ protocol: 'TCP', port: i + 1 })) }),
        'InvalidArgument',
      ],
      ['staged that is not a boolean', { staged: 'yes' as never }, 'InvalidArgument'],
      [
        'a Strata source with a name',
        { source: { kind: 'strata', namespace: '', name: 'x' } },
        'InvalidArgument',
      ],
      [
        'a Kubernetes source with a bad namespace',
        { source: { kind: 'kubernetes', namespace: 'A', name: 'x' } },
        'InvalidName',
      ],
    ] as const)('rejects %s', (_case, data, code) => {
      given([])
        .when(create(data as Partial<CreatePolicy['data']>))
        .thenThrows(code);
    });

    it('takes 256 rules, peers and ports', () => {
      const ports = many(256, (i) => ({ protocol: 'TCP' as const, port: i + 1 }));
      const peers = many(256, (i) => ({ cidr: `10.${i >> 8}.${i & 255}.0/24` }));
      const events = policyDecider.decide(
        create({ ingress: many(256, () => ({ action: 'allow', peers, ports })) as never }),
        policyDecider.initialState(),
      );
      expect(events).toHaveLength(1);
    });
  });

  describe('ApplyPolicy', () => {
    it('creates, replaces, and does nothing when equal', () => {
      given([]).when(apply()).then([created]);
      given([created]).when(apply()).thenNothingHappened();
      given([created])
        .when(apply({ priority: 5, ingress: [], directions: ['ingress'] }))
        .then([updated({ priority: 5, ingress: [], directions: ['ingress'] })]);
    });

    it('replaces as a whole: fields left out go back to their defaults', () => {
      given([created, updated({ staged: true })])
        .when(apply())
        .then([updated({ staged: false })]);
    });

    it('creates a deleted id again (a NetworkPolicy deleted and applied again)', () => {
      given([created, deleted]).when(apply()).then([created]);
    });

    it('does not let one source take over the id of another', () => {
      const k8s = { kind: 'kubernetes', namespace: 'a-b', name: 'c' } as const;
      given([{ ...created, data: { ...created.data, source: k8s } }])
        .when(apply({ source: { kind: 'kubernetes', namespace: 'a', name: 'b-c' } }))
        .thenThrows('AlreadyExists', /a-b\/c/);
    });

    it('validates like create', () => {
      given([created])
        .when(apply({ ingress: [{ action: 'pass' }], tier: 'baseline' }))
        .thenThrows('InvalidArgument', /baseline/);
    });
  });

  describe('UpdatePolicy', () => {
    it('changes the fields given and carries every field in the event', () => {
      given([created])
        .when(update({ priority: 5, staged: true, ingress: [] }))
        .then([updated({ priority: 5, staged: true, ingress: [] })]);
    });

    it('appends nothing when nothing changes', () => {
      given([created]).when(update({})).thenNothingHappened();
      given([created])
        .when(update({ ingress: create().data.ingress }))
        .thenNothingHappened();
    });

    it('validates the result as a whole: pass cannot move to baseline', () => {
      const passing = updated({ ingress: [{ action: 'pass', peers: [], ports: [] }] });
      given([created])
        .when(update({ ingress: [{ action: 'pass' }] }))
        .then([passing]);
      given([created, passing])
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

  describe('readPolicySpec', () => {
    const v1 = {
      policyId: 'old',
      name: 'web-from-lb',
      tier: 'platform',
      priority: 7,
      action: 'deny',
      direction: 'egress',
      selector: { matchLabels: { tier: 'web' } },
      peers: [{ matchLabels: { tier: 'lb' } }],
      ports: [{ protocol: 'TCP', port: 443, endPort: 443 }],
      staged: true,
    };

    it('reads v2 data back as it was written', () => {
      expect(readPolicySpec(created.data)).toEqual(spec);
      expect(readPolicySpec(JSON.parse(JSON.stringify(created.data)))).toEqual(spec);
    });

    it('upcasts schema-v1 data: one rule in its one direction, selector peers', () => {
      expect(readPolicySpec(v1)).toEqual({
        name: 'web-from-lb',
        tier: 'platform',
        priority: 7,
        selector: { matchLabels: { tier: 'web' }, matchExpressions: [] },
        directions: ['egress'],
        ingress: [],
        egress: [
          {
            action: 'deny',
            peers: [{ selector: { matchLabels: { tier: 'lb' }, matchExpressions: [] } }],
            ports: [{ protocol: 'TCP', port: 443, endPort: 443 }],
          },
        ],
        staged: true,
        source: { kind: 'strata', namespace: '', name: '' },
      });
    });

    it('folds v1 events as their v2 form, so a v1 policy can be updated', () => {
      const v1Created = { type: 'PolicyCreated', data: v1 } as unknown as PolicyCreated;
      const state = policyDecider.evolve(policyDecider.initialState(), v1Created);
      expect(state).toMatchObject({ status: 'active', policyId: 'old', directions: ['egress'] });
      expect(policyDecider.decide(update({ policyId: 'old', priority: 8 }), state)).toEqual([
        {
          type: 'PolicyUpdated',
          data: { policyId: 'old', ...readPolicySpec(v1), priority: 8 },
        },
      ]);
    });

    it.each([
      ['not an object', 'x'],
      ['null', null],
      ['a v2 event without source', { ...spec, source: undefined }],
      ['a v2 event without rules', { ...spec, ingress: undefined }],
      ['a bad tier', { ...spec, tier: 'gold' }],
      ['a bad label', { ...spec, selector: { matchLabels: { 'a b': 'x' } } }],
      ['a bad CIDR', { ...spec, ingress: [{ action: 'allow', peers: [{ cidr: 'x' }] }] }],
      ['a v1 event with a bad direction', { ...v1, direction: 'both' }],
      ['a v1 event with bad peers', { ...v1, peers: 'lb' }],
    ])('rejects %s with InvalidArgument', (_case, data) => {
      expect(() => readPolicySpec(data)).toThrow(
        expect.objectContaining({ code: 'InvalidArgument' }),
      );
    });
  });

  describe('policyRuleId', () => {
    it('is 16 + FNV-1a-32 of "<policy>/<direction>/<index>" mod 2^32-16', () => {
      // The published FNV-1a-32 test vectors.
      expect(fnv1a32('')).toBe(0x811c9dc5);
      expect(fnv1a32('a')).toBe(0xe40c292c);
      expect(fnv1a32('foobar')).toBe(0xbf9cf968);
      expect(policyRuleId('a', 'ingress', 0)).toBe(16 + (fnv1a32('a/ingress/0') % (2 ** 32 - 16)));
    });

    it('is never a reserved id, and differs by policy, direction and index', () => {
      const ids = ['a', 'b'].flatMap((p) =>
        (['ingress', 'egress'] as const).flatMap((d) =>
          [0, 1, 2].map((i) => policyRuleId(p, d, i)),
        ),
      );
      expect(new Set(ids).size).toBe(12);
      expect(Math.min(...ids)).toBeGreaterThanOrEqual(16);
      expect(Math.max(...ids)).toBeLessThan(2 ** 32);
    });
  });
});

function many<T>(n: number, item: (i: number) => T): T[] {
  return Array.from({ length: n }, (_, i) => item(i));
}
