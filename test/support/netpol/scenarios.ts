import {
  everyCase,
  perCase,
  pod,
  Reachability,
  type Expected,
  type Namespace,
  type PodId,
} from './reachability';

/**
 * The upstream Kubernetes NetworkPolicy e2e scenarios (kubernetes test/e2e/network/netpol/
 * network_policy.go), as truth tables for the lab: namespaces x, y, z labelled `ns=<name>`;
 * in each, pods a, b, c labelled `pod=<letter>` with the named ports serve-80-tcp, serve-81-tcp,
 * serve-80-udp and serve-81-udp; servers on TCP and UDP 80 and 81.
 *
 * Every expected table is written by hand from the Kubernetes semantics (an unselected pod
 * allows everything; a pod selected by a policy of a direction allows in that direction only
 * what some rule of those policies allows, rules and policies adding up; a connection needs
 * the source's egress and the destination's ingress), and a pod always reaches itself (the
 * packet never leaves its network namespace; upstream's AllowLoopback). `network-policy.test.ts`
 * checks these tables against an independent evaluator of the NetworkPolicy objects
 * (oracle.ts) before the lab runs, so a slip in a table shows as a table error, not as a
 * Strata failure.
 */

/** What a step does before it probes. */
export type Action =
  /** `strata policy apply -f` of these YAML documents. */
  | { readonly apply: string }
  /** `strata policy delete` of the policy a NetworkPolicy `<namespace>/<name>` became. */
  | { readonly delete: string }
  /** `strata lab pod label <pod> <labels>` (`k=v,k2-`). */
  | { readonly labelPod: PodId; readonly labels: string }
  /** `strata lab namespace label <ns> <labels>`: every pod in it is relabelled. */
  | { readonly labelNamespace: Namespace; readonly labels: string };

export interface Step {
  readonly actions: readonly Action[];
  readonly expect: Expected;
}

export interface Scenario {
  /** Upstream's test name (or what it checks, where upstream has no exact twin). */
  readonly name: string;
  readonly steps: readonly Step[];
}

const header = (namespace: string, name: string) =>
  `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
`;

const all = (allowed: boolean) => new Reachability(allowed);

const DENY_INGRESS_X =
  header('x', 'deny-ingress') +
  `  podSelector: {}
  policyTypes: [Ingress]
`;

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "should support a 'default-deny-ingress' policy",
    steps: [
      {
        actions: [{ apply: DENY_INGRESS_X }],
        expect: everyCase(all(true).ingress({ ns: 'x' }, false)),
      },
    ],
  },
  {
    name: "should support a 'default-deny-all' policy (ingress and egress)",
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'deny-all') +
              `  podSelector: {}
  policyTypes: [Ingress, Egress]
`,
          },
        ],
        expect: everyCase(all(true).ingress({ ns: 'x' }, false).egress({ ns: 'x' }, false)),
      },
    ],
  },
  {
    name: "should support a 'default-deny-egress' policy",
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'deny-egress') +
              `  podSelector: {}
  policyTypes: [Egress]
`,
          },
        ],
        expect: everyCase(all(true).egress({ ns: 'x' }, false)),
      },
    ],
  },
  {
    name: 'should support allow-all policy (on top of default-deny-ingress: policies add up)',
    steps: [
      {
        actions: [
          { apply: DENY_INGRESS_X },
          {
            apply:
              header('x', 'allow-all') +
              `  podSelector: {}
  ingress:
  - {}
`,
          },
        ],
        expect: everyCase(all(true)),
      },
    ],
  },
  {
    name: 'should enforce policy to allow traffic from pods within server namespace based on PodSelector',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-x-b-to-x-a') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector:
        matchLabels: {pod: b}
`,
          },
        ],
        expect: everyCase(
          all(true).ingress(pod('x/a'), false).expect(pod('x/b'), pod('x/a'), true),
        ),
      },
    ],
  },
  {
    name: 'should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-ns-y') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: y}
`,
          },
        ],
        expect: everyCase(
          all(true).ingress(pod('x/a'), false).expect({ ns: 'y' }, pod('x/a'), true),
        ),
      },
    ],
  },
  {
    name: 'should enforce policy based on NamespaceSelector with MatchExpressions (NotIn)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-ns-not-x') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions:
        - {key: ns, operator: NotIn, values: [x]}
`,
          },
        ],
        expect: everyCase(
          all(true)
            .ingress(pod('x/a'), false)
            .expect({ ns: 'y' }, pod('x/a'), true)
            .expect({ ns: 'z' }, pod('x/a'), true),
        ),
      },
    ],
  },
  {
    name: 'should enforce policy based on PodSelector with MatchExpressions (In)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-pod-in-b') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector:
        matchExpressions:
        - {key: pod, operator: In, values: [b]}
`,
          },
        ],
        expect: everyCase(
          all(true).ingress(pod('x/a'), false).expect(pod('x/b'), pod('x/a'), true),
        ),
      },
    ],
  },
  {
    name: 'should enforce policy based on PodSelector or NamespaceSelector (two peers: OR)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-pod-b-or-ns-not-x') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions:
        - {key: ns, operator: NotIn, values: [x]}
    - podSelector:
        matchLabels: {pod: b}
`,
          },
        ],
        expect: everyCase(
          all(true)
            .ingress(pod('x/a'), false)
            .expect(pod('x/b'), pod('x/a'), true)
            .expect({ ns: 'y' }, pod('x/a'), true)
            .expect({ ns: 'z' }, pod('x/a'), true),
        ),
      },
    ],
  },
  {
    name: 'should enforce policy based on PodSelector and NamespaceSelector (one peer: AND)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-pod-b-and-ns-not-x') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions:
        - {key: ns, operator: NotIn, values: [x]}
      podSelector:
        matchLabels: {pod: b}
`,
          },
        ],
        expect: everyCase(
          all(true)
            .ingress(pod('x/a'), false)
            .expect(pod('y/b'), pod('x/a'), true)
            .expect(pod('z/b'), pod('x/a'), true),
        ),
      },
    ],
  },
  {
    name: 'should enforce policy based on Ports (TCP 81 only, from namespace y)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-81-from-y') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: y}
    ports:
    - {protocol: TCP, port: 81}
`,
          },
        ],
        expect: perCase(({ protocol, port }) => {
          const table = all(true).ingress(pod('x/a'), false);
          return protocol === 'TCP' && port === 81
            ? table.expect({ ns: 'y' }, pod('x/a'), true)
            : table;
        }),
      },
    ],
  },
  {
    name: 'should enforce policy to allow traffic only on port 80 (protocol defaults to TCP)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-80') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - port: 80
`,
          },
        ],
        expect: perCase(({ protocol, port }) =>
          protocol === 'TCP' && port === 80 ? all(true) : all(true).ingress(pod('x/a'), false),
        ),
      },
    ],
  },
  {
    name: 'should support a port range with endPort (81-90)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-81-90') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - {protocol: TCP, port: 81, endPort: 90}
`,
          },
        ],
        expect: perCase(({ protocol, port }) =>
          protocol === 'TCP' && port === 81 ? all(true) : all(true).ingress(pod('x/a'), false),
        ),
      },
    ],
  },
  {
    name: 'should allow ingress access on one named port (serve-81-udp)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-serve-81-udp') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - {protocol: UDP, port: serve-81-udp}
`,
          },
        ],
        expect: perCase(({ protocol, port }) =>
          protocol === 'UDP' && port === 81 ? all(true) : all(true).ingress(pod('x/a'), false),
        ),
      },
    ],
  },
  {
    name: 'should allow egress access on one named port (serve-80-tcp, resolved on each server)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-egress-serve-80-tcp') +
              `  podSelector:
    matchLabels: {pod: a}
  policyTypes: [Egress]
  egress:
  - ports:
    - {protocol: TCP, port: serve-80-tcp}
`,
          },
        ],
        expect: perCase(({ protocol, port }) =>
          protocol === 'TCP' && port === 80 ? all(true) : all(true).egress(pod('x/a'), false),
        ),
      },
    ],
  },
  {
    name: 'should enforce ingress policy allowing any port traffic to a server on a specific protocol (UDP)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-udp') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - protocol: UDP
`,
          },
        ],
        expect: perCase(({ protocol }) =>
          protocol === 'UDP' ? all(true) : all(true).ingress(pod('x/a'), false),
        ),
      },
    ],
  },
  {
    name: 'should enforce multiple policies additively (from b on TCP 80, from c on TCP 81)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-b-80') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector:
        matchLabels: {pod: b}
    ports:
    - {protocol: TCP, port: 80}
---
` +
              header('x', 'allow-c-81') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector:
        matchLabels: {pod: c}
    ports:
    - {protocol: TCP, port: 81}
`,
          },
        ],
        expect: perCase(({ protocol, port }) => {
          const table = all(true).ingress(pod('x/a'), false);
          if (protocol !== 'TCP') return table;
          return table.expect(pod(port === 80 ? 'x/b' : 'x/c'), pod('x/a'), true);
        }),
      },
    ],
  },
  {
    name: 'should enforce egress and ingress together (x/a egress to y on TCP 80; y/b isolated for ingress)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'egress-to-y-80') +
              `  podSelector:
    matchLabels: {pod: a}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels: {ns: y}
    ports:
    - {protocol: TCP, port: 80}
---
` +
              header('y', 'deny-ingress-b') +
              `  podSelector:
    matchLabels: {pod: b}
  policyTypes: [Ingress]
`,
          },
        ],
        expect: perCase(({ protocol, port }) => {
          const table = all(true).egress(pod('x/a'), false);
          if (protocol === 'TCP' && port === 80) table.expect(pod('x/a'), { ns: 'y' }, true);
          return table.ingress(pod('y/b'), false);
        }),
      },
    ],
  },
  {
    name: 'should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'egress-to-y-a') +
              `  podSelector:
    matchLabels: {pod: a}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels: {ns: y}
      podSelector:
        matchLabels: {pod: a}
`,
          },
        ],
        expect: everyCase(all(true).egress(pod('x/a'), false).expect(pod('x/a'), pod('y/a'), true)),
      },
    ],
  },
  {
    name: 'should enforce updated policy (port 80 from y, then the same policy with port 81)',
    steps: [
      {
        actions: [{ apply: allowFromY(80) }],
        expect: perCase(({ protocol, port }) => {
          const table = all(true).ingress(pod('x/a'), false);
          return protocol === 'TCP' && port === 80
            ? table.expect({ ns: 'y' }, pod('x/a'), true)
            : table;
        }),
      },
      {
        actions: [{ apply: allowFromY(81) }],
        expect: perCase(({ protocol, port }) => {
          const table = all(true).ingress(pod('x/a'), false);
          return protocol === 'TCP' && port === 81
            ? table.expect({ ns: 'y' }, pod('x/a'), true)
            : table;
        }),
      },
    ],
  },
  {
    name: 'should allow ingress access from updated pod (podSelector Exists; label added, then removed)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-from-updated-pod') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector:
        matchExpressions:
        - {key: updated, operator: Exists}
`,
          },
        ],
        expect: everyCase(all(true).ingress(pod('x/a'), false)),
      },
      {
        actions: [{ labelPod: 'x/b', labels: 'updated=yes' }],
        expect: everyCase(
          all(true).ingress(pod('x/a'), false).expect(pod('x/b'), pod('x/a'), true),
        ),
      },
      {
        actions: [{ labelPod: 'x/b', labels: 'updated-' }],
        expect: everyCase(all(true).ingress(pod('x/a'), false)),
      },
    ],
  },
  {
    name: 'should deny ingress access to updated pod (the policy selects it once relabelled)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'deny-isolated') +
              `  podSelector:
    matchLabels: {target: isolated}
  policyTypes: [Ingress]
`,
          },
        ],
        expect: everyCase(all(true)),
      },
      {
        actions: [{ labelPod: 'x/a', labels: 'target=isolated' }],
        expect: everyCase(all(true).ingress(pod('x/a'), false)),
      },
      {
        actions: [{ labelPod: 'x/a', labels: 'target-' }],
        expect: everyCase(all(true)),
      },
    ],
  },
  {
    name: 'should allow ingress access from updated namespace (namespace label added, then removed)',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'allow-from-updated-ns') +
              `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns2: updated}
`,
          },
        ],
        expect: everyCase(all(true).ingress(pod('x/a'), false)),
      },
      {
        actions: [{ labelNamespace: 'y', labels: 'ns2=updated' }],
        expect: everyCase(
          all(true).ingress(pod('x/a'), false).expect({ ns: 'y' }, pod('x/a'), true),
        ),
      },
      {
        actions: [{ labelNamespace: 'y', labels: 'ns2-' }],
        expect: everyCase(all(true).ingress(pod('x/a'), false)),
      },
    ],
  },
  {
    name: 'should stop enforcing policies after they are deleted',
    steps: [
      {
        actions: [
          {
            apply:
              header('x', 'deny-all-then-deleted') +
              `  podSelector: {}
  policyTypes: [Ingress, Egress]
`,
          },
        ],
        expect: everyCase(all(true).ingress({ ns: 'x' }, false).egress({ ns: 'x' }, false)),
      },
      { actions: [{ delete: 'x/deny-all-then-deleted' }], expect: everyCase(all(true)) },
    ],
  },
];

function allowFromY(port: number): string {
  return (
    header('x', 'allow-from-y') +
    `  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: y}
    ports:
    - {protocol: TCP, port: ${port}}
`
  );
}
