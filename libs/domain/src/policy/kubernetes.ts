import { formatCidr, parseCidr } from '../net/cidr';
import { assertDnsLabel, assertDnsSubdomain } from '../net/dns';
import { assertPort } from '../net/port';
import { DomainError } from '../shared/errors';
import { MAX_ID_LENGTH } from '../shared/ids';
import {
  NAMESPACE_LABEL,
  NAMESPACE_LABEL_PREFIX,
  POLICY_PROTOCOLS,
  type LabelExpression,
  type LabelSelector,
  type PolicyDirection,
  type PolicyPeer,
  type PolicyPort,
  type PolicyProtocol,
  type PolicyRule,
  type PolicySpec,
} from './model';
import { isServiceName, parseLabelSelector, parsePolicySpec } from './policy';
import { fnv1a32 } from './rule-id';

/**
 * Kubernetes NetworkPolicy (networking.k8s.io/v1) -> one Strata policy, exactly as
 * docs/policy.md says: id `k8s-<namespace>-<name>`, tier application, priority 1000, every rule
 * allow, selector = podSelector AND `strata.io/namespace=<ns>`, directions = policyTypes
 * (default Ingress, plus Egress when there are egress rules; rules of a direction not listed are
 * ignored, as Kubernetes does). Pure: the object comes parsed (JSON or YAML), nothing is read.
 *
 * The object is validated as the API server would (plus strictness on unknown spec fields, so a
 * typo like `form:` is an error rather than an allow-everything rule); every error is a
 * DomainError whose message starts with the field's path (`spec.ingress[0].from[1].ipBlock`).
 * metadata and status fields other than name and namespace are ignored.
 */

export const KUBERNETES_POLICY_TIER = 'application';
export const KUBERNETES_POLICY_PRIORITY = 1000;
export const KUBERNETES_POLICY_ID_PREFIX = 'k8s-';

export interface TranslatedPolicy {
  readonly policyId: string;
  readonly spec: PolicySpec;
}

const HASH_LENGTH = 8;

/**
 * `k8s-<namespace>-<name>`, with the name's dots (not allowed in ids) as '_' (which Kubernetes
 * names cannot hold, so no two names meet). Longer than an id may be: cut, and the FNV-1a-32 of
 * `<namespace>/<name>` appended, so it stays unique and stable. `-` may sit in namespaces and
 * names, so `a-b`/`c` and `a`/`b-c` share an id; the aggregate refuses to let one NetworkPolicy
 * replace the other (ApplyPolicy checks the source), so such a pair is an error, never a mix-up.
 */
export function kubernetesPolicyId(namespace: string, name: string): string {
  const id = `${KUBERNETES_POLICY_ID_PREFIX}${namespace}-${name.replaceAll('.', '_')}`;
  if (id.length <= MAX_ID_LENGTH) return id;
  const hash = fnv1a32(`${namespace}/${name}`).toString(16).padStart(HASH_LENGTH, '0');
  return `${id.slice(0, MAX_ID_LENGTH - HASH_LENGTH - 1)}-${hash}`;
}

/**
 * The endpoint label key that carries namespace label `key`: `ns.strata.io/<key>` for a key
 * without prefix; a prefixed key `<prefix>/<name>` (like `kubernetes.io/metadata.name`, which
 * cannot sit under another prefix: a label key has one '/') becomes `<prefix>.ns.strata.io/<name>`.
 * One-to-one, and always a valid label key when `key` is one with a prefix of at most 240
 * characters. Whoever labels endpoints (the lab, the Kubernetes integration) and the translator
 * below must both use it.
 */
export function namespaceLabelKey(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0
    ? `${NAMESPACE_LABEL_PREFIX}${key}`
    : `${key.slice(0, slash)}.${NAMESPACE_LABEL_PREFIX}${key.slice(slash + 1)}`;
}

type Json = Record<string, unknown>;

function fail(path: string, message: string, code: 'InvalidArgument' = 'InvalidArgument'): never {
  throw new DomainError(code, `${path}: ${message}`);
}

function object(value: unknown, path: string, fields?: readonly string[]): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(path, `must be an object, got ${JSON.stringify(value)}`);
  }
  if (fields !== undefined) {
    const unknown = Object.keys(value).filter((key) => !fields.includes(key));
    if (unknown.length > 0) {
      fail(path, `unknown field ${unknown[0]}; expected ${fields.join(', ')}`);
    }
  }
  return value as Json;
}

/** Absent and null are the empty list (YAML writes `ingress:` with nothing as null). */
function items(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(path, `must be a list, got ${JSON.stringify(value)}`);
  return value;
}

/** A Kubernetes LabelSelector (matchLabels, matchExpressions) in Strata's canonical form. */
function selector(value: unknown, path: string): LabelSelector {
  const raw = object(value ?? {}, path, ['matchLabels', 'matchExpressions']);
  const matchExpressions = items(raw.matchExpressions, `${path}.matchExpressions`).map((e, i) =>
    object(e, `${path}.matchExpressions[${i}]`, ['key', 'operator', 'values']),
  );
  return parseLabelSelector({ matchLabels: raw.matchLabels ?? {}, matchExpressions }, path);
}

/** Every requirement of `a` and of `b` (for the AND of two selectors). */
function and(a: LabelSelector, b: LabelSelector): LabelSelector {
  const matchExpressions: LabelExpression[] = [...a.matchExpressions, ...b.matchExpressions];
  const matchLabels: Record<string, string> = { ...a.matchLabels };
  for (const [key, value] of Object.entries(b.matchLabels)) {
    if (matchLabels[key] !== undefined && matchLabels[key] !== value) {
      // Both must hold: as an expression, so neither pair overwrites the other.
      matchExpressions.push({ key, operator: 'In', values: [value] });
    } else {
      matchLabels[key] = value;
    }
  }
  return parseLabelSelector({ matchLabels, matchExpressions }, 'selector');
}

const inNamespace = (namespace: string): LabelSelector => ({
  matchLabels: { [NAMESPACE_LABEL]: namespace },
  matchExpressions: [],
});

/** Pods of any namespace: endpoints that carry a namespace at all. */
const ANY_NAMESPACE: LabelSelector = {
  matchLabels: {},
  matchExpressions: [{ key: NAMESPACE_LABEL, operator: 'Exists', values: [] }],
};

/** A namespace selector as a selector on endpoints: its keys as namespaceLabelKey gives them. */
function namespaceSelector(value: unknown, path: string): LabelSelector {
  const parsed = selector(value, path);
  return parseLabelSelector(
    {
      matchLabels: Object.fromEntries(
        Object.entries(parsed.matchLabels).map(([k, v]) => [namespaceLabelKey(k), v]),
      ),
      matchExpressions: parsed.matchExpressions.map((e) => ({
        ...e,
        key: namespaceLabelKey(e.key),
      })),
    },
    path,
  );
}

function peer(value: unknown, namespace: string, path: string): PolicyPeer {
  const raw = object(value, path, ['podSelector', 'namespaceSelector', 'ipBlock']);
  const has = (key: string) => raw[key] !== undefined && raw[key] !== null;
  if (has('ipBlock')) {
    if (has('podSelector') || has('namespaceSelector')) {
      fail(path, 'ipBlock cannot be combined with podSelector or namespaceSelector');
    }
    return ipBlock(raw.ipBlock, `${path}.ipBlock`);
  }
  if (has('namespaceSelector')) {
    const namespaces = and(
      ANY_NAMESPACE,
      namespaceSelector(raw.namespaceSelector, `${path}.namespaceSelector`),
    );
    return {
      selector: has('podSelector')
        ? and(namespaces, selector(raw.podSelector, `${path}.podSelector`))
        : namespaces,
    };
  }
  if (has('podSelector')) {
    return {
      selector: and(inNamespace(namespace), selector(raw.podSelector, `${path}.podSelector`)),
    };
  }
  return fail(path, 'a peer needs one of podSelector, namespaceSelector or ipBlock');
}

function ipBlock(value: unknown, path: string): PolicyPeer {
  const raw = object(value, path, ['cidr', 'except']);
  if (typeof raw.cidr === 'string' && raw.cidr.includes(':')) {
    fail(`${path}.cidr`, `IPv6 blocks are not supported (Strata is IPv4), got ${raw.cidr}`);
  }
  const cidr = parseCidr(raw.cidr, `${path}.cidr`);
  const except = items(raw.except, `${path}.except`).map((e, i) => {
    const inner = parseCidr(e, `${path}.except[${i}]`);
    const outer = cidr.network + 2 ** (32 - cidr.prefix) - 1;
    if (inner.prefix <= cidr.prefix || inner.network < cidr.network || inner.network > outer) {
      throw new DomainError(
        'InvalidCidr',
        `${path}.except[${i}]: ${formatCidr(inner)} must be a strict subset of ${formatCidr(cidr)}`,
      );
    }
    return formatCidr(inner);
  });
  return { cidr: formatCidr(cidr), except };
}

function port(value: unknown, path: string): PolicyPort {
  const raw = object(value, path, ['protocol', 'port', 'endPort']);
  const protocol = raw.protocol ?? 'TCP';
  if (!POLICY_PROTOCOLS.includes(protocol as PolicyProtocol)) {
    throw new DomainError(
      'InvalidPort',
      `${path}.protocol: must be TCP, UDP or SCTP, got ${JSON.stringify(protocol)}`,
    );
  }
  const p = protocol as PolicyProtocol;
  if (raw.port === undefined || raw.port === null) {
    if (raw.endPort !== undefined && raw.endPort !== null) {
      throw new DomainError('InvalidPort', `${path}.endPort: needs a numeric port`);
    }
    // No port: every port of the protocol.
    return { protocol: p, port: 1, endPort: 65_535 };
  }
  if (typeof raw.port === 'string') {
    if (raw.endPort !== undefined && raw.endPort !== null) {
      throw new DomainError(
        'InvalidPort',
        `${path}.endPort: needs a numeric port, not a named one`,
      );
    }
    if (!isServiceName(raw.port)) {
      throw new DomainError(
        'InvalidPort',
        `${path}.port: a named port must be an IANA service name (1-15 of a-z 0-9 -, a letter), got ${JSON.stringify(raw.port)}`,
      );
    }
    return { protocol: p, name: raw.port };
  }
  const number = assertPort(raw.port, `${path}.port`);
  if (raw.endPort === undefined || raw.endPort === null)
    return { protocol: p, port: number, endPort: number };
  const end = assertPort(raw.endPort, `${path}.endPort`);
  if (end < number) {
    throw new DomainError('InvalidPort', `${path}.endPort: ${end} is below port ${number}`);
  }
  return { protocol: p, port: number, endPort: end };
}

function rule(
  value: unknown,
  namespace: string,
  peersField: 'from' | 'to',
  path: string,
): PolicyRule {
  const raw = object(value ?? {}, path, [peersField, 'ports']);
  return {
    action: 'allow',
    peers: items(raw[peersField], `${path}.${peersField}`).map((p, i) =>
      peer(p, namespace, `${path}.${peersField}[${i}]`),
    ),
    ports: items(raw.ports, `${path}.ports`).map((p, i) => port(p, `${path}.ports[${i}]`)),
  };
}

const POLICY_TYPES: Record<string, PolicyDirection> = { Ingress: 'ingress', Egress: 'egress' };

/** One parsed NetworkPolicy object -> its Strata policy id and canonical spec. */
export function translateNetworkPolicy(value: unknown): TranslatedPolicy {
  const object_ = object(value, 'NetworkPolicy');
  if (object_.apiVersion !== 'networking.k8s.io/v1') {
    fail('apiVersion', `must be networking.k8s.io/v1, got ${JSON.stringify(object_.apiVersion)}`);
  }
  if (object_.kind !== 'NetworkPolicy') {
    fail('kind', `must be NetworkPolicy, got ${JSON.stringify(object_.kind)}`);
  }
  const metadata = object(object_.metadata, 'metadata');
  const name = assertDnsSubdomain(metadata.name, 'metadata.name');
  const namespace =
    metadata.namespace === undefined || metadata.namespace === null
      ? 'default'
      : assertDnsLabel(metadata.namespace, 'metadata.namespace');
  const spec = object(object_.spec, 'spec', ['podSelector', 'policyTypes', 'ingress', 'egress']);
  if (spec.podSelector === undefined || spec.podSelector === null) {
    fail('spec.podSelector', 'is required ({} selects every pod of the namespace)');
  }
  const podSelector = selector(spec.podSelector, 'spec.podSelector');
  const ingressRules = items(spec.ingress, 'spec.ingress');
  const egressRules = items(spec.egress, 'spec.egress');
  const policyTypes = items(spec.policyTypes, 'spec.policyTypes').map((t, i) => {
    const direction = typeof t === 'string' ? POLICY_TYPES[t] : undefined;
    if (direction === undefined) {
      fail(`spec.policyTypes[${i}]`, `must be Ingress or Egress, got ${JSON.stringify(t)}`);
    }
    return direction;
  });
  const directions: PolicyDirection[] =
    policyTypes.length > 0
      ? policyTypes
      : egressRules.length > 0
        ? ['ingress', 'egress']
        : ['ingress'];
  const rules = (direction: PolicyDirection, list: unknown[], field: 'from' | 'to') =>
    directions.includes(direction)
      ? list.map((r, i) => rule(r, namespace, field, `spec.${direction}[${i}]`))
      : [];
  return {
    policyId: kubernetesPolicyId(namespace, name),
    spec: parsePolicySpec({
      name,
      tier: KUBERNETES_POLICY_TIER,
      priority: KUBERNETES_POLICY_PRIORITY,
      selector: and(inNamespace(namespace), podSelector),
      directions,
      ingress: rules('ingress', ingressRules, 'from'),
      egress: rules('egress', egressRules, 'to'),
      staged: false,
      source: { kind: 'kubernetes', namespace, name },
    }),
  };
}
