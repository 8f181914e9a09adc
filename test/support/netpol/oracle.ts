import { loadAll } from 'js-yaml';
import {
  CASES,
  NAMESPACES,
  PODS,
  Reachability,
  type Case,
  type Expected,
  type PodId,
} from './reachability';
import type { Action } from './scenarios';

/**
 * An independent reading of Kubernetes NetworkPolicy v1 (the API reference's semantics, written
 * here without any Strata code) over the lab's nine pods: it checks the hand-written truth
 * tables of scenarios.ts, so a slip in a table is caught as such before the lab runs.
 * It knows what the scenarios use: pod and namespace selectors (matchLabels, matchExpressions),
 * numeric and named ports, endPort, protocols, policyTypes. ipBlock peers match no pod.
 */

type Labels = Record<string, string>;

interface Expression {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}
interface Selector {
  matchLabels?: Labels;
  matchExpressions?: Expression[];
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: unknown;
}
interface Port {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: Port[];
}
export interface NetworkPolicy {
  metadata: { name: string; namespace?: string };
  spec: {
    podSelector: Selector;
    policyTypes?: ('Ingress' | 'Egress')[];
    ingress?: Rule[];
    egress?: Rule[];
  };
}

/** The NetworkPolicy documents of a YAML text. */
export function parsePolicies(yaml: string): NetworkPolicy[] {
  return loadAll(yaml).filter((doc) => doc !== null && doc !== undefined) as NetworkPolicy[];
}

export function policyKey(policy: NetworkPolicy): string {
  return `${policy.metadata.namespace ?? 'default'}/${policy.metadata.name}`;
}

/** The named ports every lab pod has. */
export const NAMED_PORTS = [
  { name: 'serve-80-tcp', protocol: 'TCP', port: 80 },
  { name: 'serve-81-tcp', protocol: 'TCP', port: 81 },
  { name: 'serve-80-udp', protocol: 'UDP', port: 80 },
  { name: 'serve-81-udp', protocol: 'UDP', port: 81 },
] as const;

export class Oracle {
  private readonly policies = new Map<string, NetworkPolicy>();
  private readonly podLabels = new Map<PodId, Labels>(
    PODS.map((id) => [id, { pod: id.split('/')[1] }]),
  );
  private readonly namespaceLabels = new Map<string, Labels>(NAMESPACES.map((ns) => [ns, { ns }]));

  act(action: Action): void {
    if ('apply' in action) {
      for (const policy of parsePolicies(action.apply))
        this.policies.set(policyKey(policy), policy);
    } else if ('delete' in action) {
      this.policies.delete(action.delete);
    } else if ('labelPod' in action) {
      this.podLabels.set(
        action.labelPod,
        relabel(this.podLabels.get(action.labelPod) ?? {}, action.labels),
      );
    } else {
      const ns = action.labelNamespace;
      this.namespaceLabels.set(ns, relabel(this.namespaceLabels.get(ns) ?? {}, action.labels));
    }
  }

  table(): Expected {
    return Object.fromEntries(
      CASES.map((c: Case) => {
        const [protocol, port] = c.split('/');
        const table = new Reachability(false);
        for (const from of PODS) {
          for (const to of PODS) {
            table.expect(podSet(from), podSet(to), this.allowed(from, to, protocol, Number(port)));
          }
        }
        return [c, table];
      }),
    ) as Record<Case, Reachability>;
  }

  private allowed(from: PodId, to: PodId, protocol: string, port: number): boolean {
    if (from === to) return true;
    return (
      this.direction('Egress', from, to, protocol, port) &&
      this.direction('Ingress', to, from, protocol, port)
    );
  }

  /**
   * Whether `subject`'s policies of `type` let it talk with `peer`. Named ports resolve on the
   * server, and every lab pod has the same ones (NAMED_PORTS).
   */
  private direction(
    type: 'Ingress' | 'Egress',
    subject: PodId,
    peer: PodId,
    protocol: string,
    port: number,
  ): boolean {
    const [subjectNs] = subject.split('/');
    const selecting = [...this.policies.values()].filter(
      (policy) =>
        (policy.metadata.namespace ?? 'default') === subjectNs &&
        types(policy).includes(type) &&
        matches(policy.spec.podSelector, this.podLabels.get(subject) ?? {}),
    );
    if (selecting.length === 0) return true;
    return selecting.some((policy) =>
      ((type === 'Ingress' ? policy.spec.ingress : policy.spec.egress) ?? []).some((rule) => {
        const peers = type === 'Ingress' ? rule.from : rule.to;
        const peerOk =
          peers === undefined ||
          peers.length === 0 ||
          peers.some((candidate) => this.peerMatches(candidate, policy, peer));
        const portOk =
          rule.ports === undefined ||
          rule.ports.length === 0 ||
          rule.ports.some((candidate) => portMatches(candidate, protocol, port));
        return peerOk && portOk;
      }),
    );
  }

  private peerMatches(peer: Peer, policy: NetworkPolicy, id: PodId): boolean {
    if (peer.ipBlock !== undefined) return false;
    const [ns] = id.split('/');
    const podOk =
      peer.podSelector === undefined || matches(peer.podSelector, this.podLabels.get(id) ?? {});
    const nsOk =
      peer.namespaceSelector === undefined
        ? ns === (policy.metadata.namespace ?? 'default')
        : matches(peer.namespaceSelector, this.namespaceLabels.get(ns) ?? {});
    return podOk && nsOk;
  }
}

function types(policy: NetworkPolicy): ('Ingress' | 'Egress')[] {
  if (policy.spec.policyTypes !== undefined) return policy.spec.policyTypes;
  return policy.spec.egress === undefined ? ['Ingress'] : ['Ingress', 'Egress'];
}

function matches(selector: Selector, labels: Labels): boolean {
  const pairs = Object.entries(selector.matchLabels ?? {});
  if (!pairs.every(([key, value]) => labels[key] === value)) return false;
  return (selector.matchExpressions ?? []).every((expression) => {
    const has = Object.prototype.hasOwnProperty.call(labels, expression.key);
    const values = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        return has && values.includes(labels[expression.key]);
      case 'NotIn':
        return !has || !values.includes(labels[expression.key]);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
    }
  });
}

function portMatches(candidate: Port, protocol: string, port: number): boolean {
  if ((candidate.protocol ?? 'TCP') !== protocol) return false;
  if (candidate.port === undefined) return true;
  if (typeof candidate.port === 'string') {
    const named = NAMED_PORTS.find((p) => p.name === candidate.port && p.protocol === protocol);
    return named?.port === port;
  }
  const end = candidate.endPort ?? candidate.port;
  return port >= candidate.port && port <= end;
}

function relabel(current: Labels, change: string): Labels {
  const next = { ...current };
  for (const part of change.split(',')) {
    if (part.endsWith('-')) delete next[part.slice(0, -1)];
    else {
      const [key, value] = part.split('=');
      next[key] = value;
    }
  }
  return next;
}

function podSet(id: PodId) {
  const [ns, pod] = id.split('/');
  return { ns, pod } as { ns: 'x'; pod: 'a' };
}
