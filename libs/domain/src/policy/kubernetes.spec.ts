import { load } from 'js-yaml';
import { DomainError } from '../shared/errors';
import { labelKeyProblem } from '../net/labels';
import { kubernetesPolicyId, namespaceLabelKey, translateNetworkPolicy } from './kubernetes';
import type { LabelSelector, PolicyPeer, PolicyRule, PolicySpec } from './model';

// NetworkPolicy objects in the shapes of the upstream e2e suite
// (kubernetes test/e2e/network/netpol/network_policy.go) -> the Strata policy docs/policy.md
// says each one is. Expected specs are written out by hand from the Kubernetes semantics.

const yaml = (text: string): unknown => load(text);

const sel = (
  matchLabels: Record<string, string>,
  matchExpressions: LabelSelector['matchExpressions'] = [],
): LabelSelector => ({ matchLabels, matchExpressions });
const inX = (labels: Record<string, string> = {}) => sel({ ...labels, 'strata.io/namespace': 'x' });
const anyNamespace = { key: 'strata.io/namespace', operator: 'Exists', values: [] } as const;
const allow = (peers: PolicyPeer[] = [], ports: PolicyRule['ports'] = []): PolicyRule => ({
  action: 'allow',
  peers,
  ports,
});
const policy = (name: string, changes: Partial<PolicySpec>): PolicySpec => ({
  name,
  tier: 'application',
  priority: 1000,
  selector: inX(),
  directions: ['ingress'],
  ingress: [],
  egress: [],
  staged: false,
  source: { kind: 'kubernetes', namespace: 'x', name },
  ...changes,
});

const header = (name: string) => `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: ${name}
  namespace: x
`;

const cases: [string, string, PolicySpec][] = [
  [
    'deny all ingress (empty podSelector, no rules)',
    `${header('deny-all')}
spec:
  podSelector: {}
  policyTypes: [Ingress]`,
    policy('deny-all', {}),
  ],
  [
    'deny all ingress and egress',
    `${header('deny-all-both')}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]`,
    policy('deny-all-both', { directions: ['ingress', 'egress'] }),
  ],
  [
    'allow all ingress ({} rule)',
    `${header('allow-all')}
spec:
  podSelector: {}
  ingress:
  - {}`,
    policy('allow-all', { ingress: [allow()] }),
  ],
  [
    'ingress from pods of the same namespace by label',
    `${header('allow-from-b')}
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector:
        matchLabels: {pod: b}`,
    policy('allow-from-b', {
      selector: inX({ pod: 'a' }),
      ingress: [allow([{ selector: inX({ pod: 'b' }) }])],
    }),
  ],
  [
    'ingress from a namespace (its labels under ns.strata.io/)',
    `${header('allow-from-ns-y')}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: y}`,
    policy('allow-from-ns-y', {
      ingress: [allow([{ selector: sel({ 'ns.strata.io/ns': 'y' }, [anyNamespace]) }])],
    }),
  ],
  [
    'ingress from every namespace (empty namespaceSelector: pods only)',
    `${header('allow-from-all-ns')}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {}`,
    policy('allow-from-all-ns', { ingress: [allow([{ selector: sel({}, [anyNamespace]) }])] }),
  ],
  [
    'podSelector AND namespaceSelector in one peer',
    `${header('allow-b-in-y')}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
      podSelector: {matchLabels: {pod: b}}`,
    policy('allow-b-in-y', {
      selector: inX({ pod: 'a' }),
      ingress: [allow([{ selector: sel({ 'ns.strata.io/ns': 'y', pod: 'b' }, [anyNamespace]) }])],
    }),
  ],
  [
    'podSelector OR namespaceSelector as two peers',
    `${header('allow-b-or-y')}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
    - podSelector: {matchLabels: {pod: b}}`,
    policy('allow-b-or-y', {
      selector: inX({ pod: 'a' }),
      ingress: [
        allow([
          { selector: sel({ 'ns.strata.io/ns': 'y' }, [anyNamespace]) },
          { selector: inX({ pod: 'b' }) },
        ]),
      ],
    }),
  ],
  [
    'matchExpressions in the pod and namespace selectors',
    `${header('allow-expr')}
spec:
  podSelector:
    matchExpressions:
    - {key: pod, operator: In, values: [c, a]}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions:
        - {key: ns, operator: NotIn, values: [y]}
      podSelector:
        matchExpressions:
        - {key: pod, operator: Exists}`,
    policy('allow-expr', {
      selector: sel({ 'strata.io/namespace': 'x' }, [
        { key: 'pod', operator: 'In', values: ['a', 'c'] },
      ]),
      ingress: [
        allow([
          {
            selector: sel({}, [
              { key: 'ns.strata.io/ns', operator: 'NotIn', values: ['y'] },
              { key: 'pod', operator: 'Exists', values: [] },
              anyNamespace,
            ]),
          },
        ]),
      ],
    }),
  ],
  [
    'ipBlock with except',
    `${header('allow-cidr')}
spec:
  podSelector: {}
  ingress:
  - from:
    - ipBlock:
        cidr: 192.168.0.0/16
        except: [192.168.3.0/24, 192.168.1.0/24]`,
    policy('allow-cidr', {
      ingress: [allow([{ cidr: '192.168.0.0/16', except: ['192.168.1.0/24', '192.168.3.0/24'] }])],
    }),
  ],
  [
    'port 80 only (protocol defaults to TCP), UDP 81',
    `${header('allow-80')}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: 80
    - {port: 81, protocol: UDP}`,
    policy('allow-80', {
      ingress: [
        allow(
          [],
          [
            { protocol: 'TCP', port: 80, endPort: 80 },
            { protocol: 'UDP', port: 81, endPort: 81 },
          ],
        ),
      ],
    }),
  ],
  [
    'endPort: a range',
    `${header('allow-range')}
spec:
  podSelector: {}
  ingress:
  - ports:
    - {protocol: TCP, port: 80, endPort: 82}`,
    policy('allow-range', {
      ingress: [allow([], [{ protocol: 'TCP', port: 80, endPort: 82 }])],
    }),
  ],
  [
    'a named port, and a protocol without port (every port of it)',
    `${header('allow-named')}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: serve-80-tcp
    - protocol: SCTP`,
    policy('allow-named', {
      ingress: [
        allow(
          [],
          [
            { protocol: 'SCTP', port: 1, endPort: 65_535 },
            { protocol: 'TCP', name: 'serve-80-tcp' },
          ],
        ),
      ],
    }),
  ],
  [
    'egress rules imply Egress besides Ingress',
    `${header('allow-egress-dns')}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
    ports:
    - {protocol: UDP, port: 53}`,
    policy('allow-egress-dns', {
      selector: inX({ pod: 'a' }),
      directions: ['ingress', 'egress'],
      egress: [
        allow(
          [
            {
              selector: sel({ 'kubernetes.io.ns.strata.io/metadata.name': 'kube-system' }, [
                anyNamespace,
              ]),
            },
          ],
          [{ protocol: 'UDP', port: 53, endPort: 53 }],
        ),
      ],
    }),
  ],
  [
    'policyTypes [Egress] only: ingress rules are ignored',
    `${header('egress-only')}
spec:
  podSelector: {}
  policyTypes: [Egress]
  ingress:
  - {}
  egress:
  - to:
    - podSelector: {}`,
    policy('egress-only', {
      directions: ['egress'],
      egress: [allow([{ selector: inX() }])],
    }),
  ],
  [
    'multiple rules keep their order (rule ids follow it)',
    `${header('multi')}
spec:
  podSelector: {}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 80}]
  - from: [{podSelector: {matchLabels: {pod: a}}}]
    ports: [{port: 81}]`,
    policy('multi', {
      ingress: [
        allow([{ selector: inX({ pod: 'b' }) }], [{ protocol: 'TCP', port: 80, endPort: 80 }]),
        allow([{ selector: inX({ pod: 'a' }) }], [{ protocol: 'TCP', port: 81, endPort: 81 }]),
      ],
    }),
  ],
  [
    'an empty from list and null fields (YAML `ingress:` with nothing) mean none / any',
    `${header('nulls')}
spec:
  podSelector: {}
  ingress:
  - from: []
    ports:`,
    policy('nulls', { ingress: [allow()] }),
  ],
];

describe('translateNetworkPolicy', () => {
  it.each(cases)('%s', (_case, text, spec) => {
    const { policyId, spec: actual } = translateNetworkPolicy(yaml(text));
    expect(policyId).toBe(`k8s-x-${spec.name}`);
    expect(actual).toEqual(spec);
  });

  it('defaults the namespace to default', () => {
    const { policyId, spec } = translateNetworkPolicy({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'p', uid: 'ignored', annotations: { a: 'b' } },
      spec: { podSelector: {} },
    });
    expect(policyId).toBe('k8s-default-p');
    expect(spec.selector).toEqual(sel({ 'strata.io/namespace': 'default' }));
    expect(spec.source).toEqual({ kind: 'kubernetes', namespace: 'default', name: 'p' });
  });

  const base = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'p', namespace: 'x' },
    spec: { podSelector: {} },
  };
  const withSpec = (spec: object) => ({ ...base, spec: { podSelector: {}, ...spec } });
  const ingressPeer = (peer: object) => withSpec({ ingress: [{ from: [peer] }] });
  const ingressPort = (port: object) => withSpec({ ingress: [{ ports: [port] }] });

  it.each([
    ['not an object', 'x', 'InvalidArgument', /NetworkPolicy/],
    ['another apiVersion', { ...base, apiVersion: 'v1' }, 'InvalidArgument', /^apiVersion/],
    ['another kind', { ...base, kind: 'Pod' }, 'InvalidArgument', /^kind/],
    ['no metadata', { ...base, metadata: undefined }, 'InvalidArgument', /^metadata/],
    ['no name', { ...base, metadata: { namespace: 'x' } }, 'InvalidName', /metadata.name/],
    [
      'a bad namespace',
      { ...base, metadata: { name: 'p', namespace: 'X' } },
      'InvalidName',
      /metadata.namespace/,
    ],
    ['no spec', { ...base, spec: undefined }, 'InvalidArgument', /^spec/],
    ['no podSelector', { ...base, spec: {} }, 'InvalidArgument', /spec.podSelector/],
    ['a typo in spec', withSpec({ ingres: [] }), 'InvalidArgument', /unknown field ingres/],
    [
      'a typo in a rule',
      withSpec({ ingress: [{ form: [] }] }),
      'InvalidArgument',
      /spec.ingress\[0\].*form/,
    ],
    [
      'a bad policyType',
      withSpec({ policyTypes: ['ingress'] }),
      'InvalidArgument',
      /spec.policyTypes\[0\]/,
    ],
    [
      'a bad podSelector label',
      withSpec({ podSelector: { matchLabels: { 'a b': 'c' } } }),
      'InvalidLabels',
      /spec.podSelector/,
    ],
    [
      'In without values',
      withSpec({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }),
      'InvalidLabels',
      /spec.podSelector.matchExpressions\[0\]/,
    ],
    ['an empty peer', ingressPeer({}), 'InvalidArgument', /spec.ingress\[0\].from\[0\]/],
    [
      'ipBlock with a podSelector',
      ingressPeer({ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }),
      'InvalidArgument',
      /ipBlock/,
    ],
    [
      'a bad cidr',
      ingressPeer({ ipBlock: { cidr: '10.0.0.1/8' } }),
      'InvalidCidr',
      /from\[0\].ipBlock.cidr/,
    ],
    ['an IPv6 cidr', ingressPeer({ ipBlock: { cidr: 'fd00::/8' } }), 'InvalidArgument', /IPv6/],
    [
      'an except outside the cidr',
      ingressPeer({ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }),
      'InvalidCidr',
      /ipBlock.except\[0\]/,
    ],
    [
      'an except equal to the cidr',
      ingressPeer({ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/16'] } }),
      'InvalidCidr',
      /strict subset/,
    ],
    ['ICMP', ingressPort({ protocol: 'ICMP', port: 1 }), 'InvalidPort', /ports\[0\].protocol/],
    ['port 0', ingressPort({ port: 0 }), 'InvalidPort', /ports\[0\].port/],
    ['a bad named port', ingressPort({ port: 'http_alt' }), 'InvalidPort', /ports\[0\].port/],
    ['a named port of digits', ingressPort({ port: '80' }), 'InvalidPort', /named port/],
    ['endPort below port', ingressPort({ port: 90, endPort: 80 }), 'InvalidPort', /endPort/],
    [
      'endPort with a named port',
      ingressPort({ port: 'http', endPort: 90 }),
      'InvalidPort',
      /endPort/,
    ],
    ['endPort without port', ingressPort({ endPort: 90 }), 'InvalidPort', /endPort/],
  ] as const)('rejects %s with %s naming the field', (_case, value, code, message) => {
    let error: unknown;
    try {
      translateNetworkPolicy(value);
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe(code);
    expect((error as DomainError).message).toMatch(message);
  });
});

describe('namespaceLabelKey', () => {
  it('puts a plain key under ns.strata.io/, and a prefixed one under <prefix>.ns.strata.io/', () => {
    expect(namespaceLabelKey('team')).toBe('ns.strata.io/team');
    expect(namespaceLabelKey('kubernetes.io/metadata.name')).toBe(
      'kubernetes.io.ns.strata.io/metadata.name',
    );
    expect(labelKeyProblem(namespaceLabelKey('kubernetes.io/metadata.name'))).toBeUndefined();
  });
});

describe('kubernetesPolicyId', () => {
  it('is k8s-<namespace>-<name>, dots as underscores', () => {
    expect(kubernetesPolicyId('x', 'deny-all')).toBe('k8s-x-deny-all');
    expect(kubernetesPolicyId('x', 'a.b')).toBe('k8s-x-a_b');
  });

  it('is cut and hashed when too long, staying unique', () => {
    const long = 'a'.repeat(200);
    const a = kubernetesPolicyId('x', long);
    const b = kubernetesPolicyId('x', `${long}b`);
    expect(a.length).toBeLessThanOrEqual(128);
    expect(a).toMatch(/^k8s-x-a+-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
  });
});
