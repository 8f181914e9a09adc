import {
  labelKeyProblem,
  labelValueProblem,
  NAMESPACE_LABEL,
  namespaceLabelKey,
  type Labels,
} from '@strata/domain';
import { CliError } from '../errors';

/**
 * What a lab pod is made of, pure: its name, node, Kubernetes-style namespace, own labels and
 * named ports, and the endpoint labels they give (docs/policy.md "Security labels"): the pod's
 * labels, `strata.io/lab` and `strata.io/pod`, and for a pod in a namespace
 * `strata.io/namespace=<ns>` plus, for every label of the namespace, that label under the key
 * `namespaceLabelKey` (@strata/domain) gives: `ns.strata.io/<key>`, and for a prefixed key
 * `<p>/<name>` `<p>.ns.strata.io/<name>` — the function the NetworkPolicy translator uses.
 * A namespace's labels default to `ns=<ns>` and `kubernetes.io/metadata.name=<ns>` (as the
 * Kubernetes API server and the upstream NetworkPolicy tests label namespaces).
 */

export const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export type NamedPortProtocol = (typeof PROTOCOLS)[number];

export interface NamedPort {
  readonly name: string;
  readonly protocol: NamedPortProtocol;
  readonly port: number;
}

/** A pod as `lab up --pods-file` and `lab pod add` take it. */
export interface PodSpec {
  readonly name: string;
  readonly node: string;
  /** Kubernetes-style namespace; none: the pod carries no namespace labels. */
  readonly namespace?: string;
  readonly labels: Labels;
  readonly namedPorts: readonly NamedPort[];
}

/** The pods file: a list of pods, or `{ namespaces: { <ns>: { <k>: <v> } }, pods: [...] }`. */
export interface PodsFile {
  readonly namespaces: Readonly<Record<string, Labels>>;
  readonly pods: readonly PodSpec[];
}

// Short and DNS-label-like, and never of the `n<i>p<j>` shape `lab up --pods` names pods.
const POD_NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const GENERATED = /^n[0-9]+p[0-9]+$/;
const NAMESPACE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PORT_NAME = /^(?=.{1,15}$)[a-z0-9]+(-[a-z0-9]+)*$/;

export function assertPodName(name: string): string {
  if (!POD_NAME.test(name) || GENERATED.test(name)) {
    throw new CliError(
      'InvalidArgument',
      `pod name ${JSON.stringify(name)} must be 1-32 of a-z, 0-9 and inner -, and not of the n<i>p<j> form \`lab up --pods\` uses`,
    );
  }
  return name;
}

export function assertNamespaceName(name: string): string {
  if (!NAMESPACE_NAME.test(name)) {
    throw new CliError(
      'InvalidArgument',
      `namespace ${JSON.stringify(name)} must be a DNS label (1-63 of a-z, 0-9 and inner -)`,
    );
  }
  return name;
}

/** The labels a namespace gets when nobody gave it any. */
export function defaultNamespaceLabels(namespace: string): Labels {
  return { 'kubernetes.io/metadata.name': namespace, ns: namespace };
}

/** The labels config records for the pod's endpoint. */
export function endpointLabels(
  lab: string,
  pod: { readonly name: string; readonly namespace?: string; readonly labels: Labels },
  namespaceLabels: Labels,
): Labels {
  const labels: Record<string, string> = { ...pod.labels };
  labels['strata.io/lab'] = lab;
  labels['strata.io/pod'] = pod.name;
  if (pod.namespace !== undefined) {
    labels[NAMESPACE_LABEL] = pod.namespace;
    for (const [key, value] of Object.entries(namespaceLabels)) {
      labels[namespaceLabelKey(key)] = value;
    }
  }
  return sortLabels(labels);
}

/**
 * `k=v,k2=v2` -> labels; with `allowRemove`, `k-` marks k for removal (as `kubectl label`
 * does), returned in `remove`. Throws InvalidArgument naming the bad part.
 */
export function parseLabelArgument(
  text: string,
  allowRemove = false,
): { set: Labels; remove: readonly string[] } {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  for (const part of text.split(',').map((item) => item.trim())) {
    if (part === '') continue;
    if (allowRemove && part.endsWith('-') && !part.includes('=')) {
      remove.push(checkKey(part.slice(0, -1)));
      continue;
    }
    const equals = part.indexOf('=');
    if (equals <= 0) {
      throw new CliError(
        'InvalidArgument',
        `label ${JSON.stringify(part)} is not key=value${allowRemove ? ' or key-' : ''}`,
      );
    }
    const key = checkKey(part.slice(0, equals));
    set[key] = checkValue(key, part.slice(equals + 1));
  }
  return { set: sortLabels(set), remove };
}

/** `http=TCP/80,dns=UDP/53` -> named ports. */
export function parseNamedPortsArgument(text: string): NamedPort[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      const match = /^([^=]+)=([A-Z]+)\/([0-9]{1,5})$/.exec(item);
      if (match === null) {
        throw new CliError(
          'InvalidArgument',
          `named port ${JSON.stringify(item)} is not name=PROTO/port`,
        );
      }
      return checkNamedPort({ name: match[1], protocol: match[2], port: Number(match[3]) }, item);
    });
}

/** Labels applied to `current`: `set` overrides, `remove` deletes. */
export function relabel(
  current: Labels,
  change: { set: Labels; remove: readonly string[] },
): Labels {
  const next: Record<string, string> = { ...current, ...change.set };
  for (const key of change.remove) delete next[key];
  return sortLabels(next);
}

/** Validates a pods file's content (already JSON-parsed). */
export function parsePodsFile(value: unknown, nodes: readonly string[]): PodsFile {
  const object = Array.isArray(value) ? { pods: value } : value;
  if (typeof object !== 'object' || object === null) {
    throw new CliError(
      'InvalidArgument',
      'the pods file must be a JSON list of pods or {namespaces, pods}',
    );
  }
  const { namespaces: rawNamespaces = {}, pods: rawPods } = object as {
    namespaces?: unknown;
    pods?: unknown;
  };
  if (!Array.isArray(rawPods)) {
    throw new CliError('InvalidArgument', 'the pods file has no `pods` list');
  }
  if (typeof rawNamespaces !== 'object' || rawNamespaces === null || Array.isArray(rawNamespaces)) {
    throw new CliError('InvalidArgument', 'the pods file: `namespaces` must map names to labels');
  }
  const namespaces: Record<string, Labels> = {};
  for (const [name, labels] of Object.entries(rawNamespaces)) {
    namespaces[assertNamespaceName(name)] = checkLabels(labels, `namespace ${name}`);
  }
  const seen = new Set<string>();
  const pods = rawPods.map((raw, i): PodSpec => {
    const where = `pods[${i}]`;
    if (typeof raw !== 'object' || raw === null) {
      throw new CliError('InvalidArgument', `${where} must be an object`);
    }
    const pod = raw as Record<string, unknown>;
    if (typeof pod.name !== 'string')
      throw new CliError('InvalidArgument', `${where}.name is missing`);
    const name = assertPodName(pod.name);
    if (seen.has(name)) throw new CliError('InvalidArgument', `${where}: pod ${name} twice`);
    seen.add(name);
    if (typeof pod.node !== 'string' || !nodes.includes(pod.node)) {
      throw new CliError(
        'InvalidArgument',
        `${where}.node must be one of ${nodes.join(', ')} (got ${JSON.stringify(pod.node)})`,
      );
    }
    let namespace: string | undefined;
    if (pod.namespace !== undefined) {
      if (typeof pod.namespace !== 'string') {
        throw new CliError('InvalidArgument', `${where}.namespace must be a string`);
      }
      namespace = assertNamespaceName(pod.namespace);
    }
    const namedPorts = pod.namedPorts ?? [];
    if (!Array.isArray(namedPorts)) {
      throw new CliError('InvalidArgument', `${where}.namedPorts must be a list`);
    }
    return {
      name,
      node: pod.node,
      ...(namespace === undefined ? {} : { namespace }),
      labels: checkLabels(pod.labels ?? {}, `${where}.labels`),
      namedPorts: namedPorts.map((port, j) => checkNamedPort(port, `${where}.namedPorts[${j}]`)),
    };
  });
  return { namespaces, pods };
}

function checkLabels(value: unknown, where: string): Labels {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError('InvalidArgument', `${where} must map label keys to string values`);
  }
  const labels: Record<string, string> = {};
  for (const [key, labelValue] of Object.entries(value)) {
    if (typeof labelValue !== 'string') {
      throw new CliError('InvalidArgument', `${where}: the value of ${key} must be a string`);
    }
    labels[checkKey(key)] = checkValue(key, labelValue);
  }
  return sortLabels(labels);
}

function checkKey(key: string): string {
  const problem = labelKeyProblem(key);
  if (problem !== undefined) {
    throw new CliError('InvalidArgument', `label key ${JSON.stringify(key)}: ${problem}`);
  }
  return key;
}

function checkValue(key: string, value: string): string {
  const problem = labelValueProblem(value);
  if (problem !== undefined) {
    throw new CliError(
      'InvalidArgument',
      `label ${key}: value ${JSON.stringify(value)} ${problem}`,
    );
  }
  return value;
}

function checkNamedPort(value: unknown, where: string): NamedPort {
  const port = value as { name?: unknown; protocol?: unknown; port?: unknown } | null;
  if (
    typeof port?.name !== 'string' ||
    !PORT_NAME.test(port.name) ||
    !/[a-z]/.test(port.name) ||
    !PROTOCOLS.includes(port.protocol as NamedPortProtocol) ||
    typeof port.port !== 'number' ||
    !Number.isInteger(port.port) ||
    port.port < 1 ||
    port.port > 65_535
  ) {
    throw new CliError(
      'InvalidArgument',
      `${where} must be {name (IANA service name), protocol TCP|UDP|SCTP, port 1-65535}`,
    );
  }
  return { name: port.name, protocol: port.protocol as NamedPortProtocol, port: port.port };
}

function sortLabels(labels: Record<string, string>): Labels {
  return Object.fromEntries(
    Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}
