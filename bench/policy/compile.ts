import {
  createForwardingState,
  type FoldableEvent,
  type ForwardingState,
} from '@strata/forwarding';
import { median } from '../support/stats';
import { generateCluster, nodeName, type ClusterSize } from './generate';

/**
 * Part (a): the compile. The generated log is folded into one node's ForwardingState (the code
 * every agent runs) and its tables read, which compiles the policy lazily (docs/policy.md). Timed
 * per round from a fresh state: the fold of every event, then the first read of `tables`;
 * memory is the heap and RSS growth after GC with the state alive. Then the incremental figure:
 * one policy updated after the big compile, folded and the tables read again.
 */

export interface CompileFigures {
  readonly size: ClusterSize;
  readonly identities: number;
  readonly localEndpoints: number;
  readonly rounds: number;
  /** Medians, ms. */
  readonly foldMs: number;
  readonly compileMs: number;
  readonly totalMs: number;
  readonly heapBytes: number;
  readonly rssBytes: number;
  readonly entries: {
    policy: number;
    prefixes: number;
    rules: number;
    local: number;
    remote: number;
  };
  /** One policy changed after the compile: median ms to fold it and read the tables again. */
  readonly incrementalMs: number;
  readonly incrementalChangedKeys: number;
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined)
    throw new Error('run with node --expose-gc (npm run bench:policy does)');
  collect();
  collect();
}

/**
 * One round in a function of its own, the state returned only from the last (kept for the
 * incremental part): a state held in a loop's block scope stays reachable from the frame (V8
 * keeps the slot), and the next round's "before" would count it.
 */
function oneRound(
  events: readonly FoldableEvent[],
  node: string,
  keep: boolean,
): {
  foldMs: number;
  compileMs: number;
  heapBytes: number;
  rssBytes: number;
  state: ForwardingState | undefined;
} {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  const state = createForwardingState(node);
  for (const event of events) state.apply(event);
  const folded = performance.now();
  const policy = state.tables.policy.size;
  const compiled = performance.now();
  state.takeChanges();
  gc();
  if (policy === 0) throw new Error('the compile produced no policy entries: nothing measured');
  return {
    foldMs: folded - started,
    compileMs: compiled - folded,
    heapBytes: process.memoryUsage().heapUsed - heapBefore,
    rssBytes: process.memoryUsage().rss - rssBefore,
    state: keep ? state : undefined,
  };
}

export function measureCompile(size: ClusterSize, rounds: number, updates: number): CompileFigures {
  const cluster = generateCluster(size);
  const node = nodeName(0);
  const folds: number[] = [];
  const compiles: number[] = [];
  const heaps: number[] = [];
  const rsss: number[] = [];
  let last: ForwardingState | undefined;
  for (let round = 0; round < rounds; round++) {
    const figures = oneRound(cluster.events, node, round === rounds - 1);
    folds.push(figures.foldMs);
    compiles.push(figures.compileMs);
    heaps.push(figures.heapBytes);
    rsss.push(figures.rssBytes);
    last = figures.state;
  }
  const state = last as ForwardingState;
  const tables = state.tables;

  // Incremental: a port of one policy changes (the usual edit), `updates` times, each folded and
  // the tables read (the agent's batch); each a policy that selects pods of this node, so the
  // change has work to do here (one that selects none costs next to nothing).
  const localPods = cluster.events
    .filter((event) => event.type === 'EndpointCreated')
    .map((event) => event.data as { node: string; labels: Record<string, string> })
    .filter((pod) => pod.node === node);
  const touching = cluster.policies.filter(
    ({ spec }) =>
      spec.ingress[0]?.ports.length > 0 &&
      localPods.some((pod) =>
        Object.entries(spec.selector.matchLabels).every(
          ([key, value]) => pod.labels[key] === value,
        ),
      ) &&
      spec.selector.matchExpressions.length === 0,
  );
  if (touching.length === 0) throw new Error('no policy selects a pod of the measured node');
  const incremental: number[] = [];
  let changedKeys = 0;
  let position = cluster.events.length;
  for (let k = 0; k < updates; k++) {
    const { policyId, spec } = touching[k % touching.length];
    const ingress = spec.ingress.map((rule, i) =>
      i === 0 && rule.ports.length > 0
        ? { ...rule, ports: [{ protocol: 'TCP' as const, port: 10_000 + k, endPort: 10_000 + k }] }
        : rule,
    );
    const started = performance.now();
    state.apply({
      stream: `policy-${policyId}`,
      revision: 1 + k,
      position: ++position,
      type: 'PolicyUpdated',
      data: { policyId, ...spec, ingress },
    });
    const changes = state.takeChanges();
    incremental.push(performance.now() - started);
    changedKeys += Object.values(changes).reduce(
      (sum: number, keys) => sum + (keys as ReadonlySet<string>).size,
      0,
    );
  }
  return {
    size,
    identities: cluster.identities,
    localEndpoints: localPods.length,
    rounds,
    foldMs: median(folds),
    compileMs: median(compiles),
    totalMs: median(folds.map((fold, i) => fold + compiles[i])),
    heapBytes: median(heaps),
    rssBytes: median(rsss),
    entries: {
      policy: tables.policy.size,
      prefixes: tables.prefixes.size,
      rules: tables.rules.size,
      local: tables.local.size,
      remote: tables.remote.size,
    },
    incrementalMs: median(incremental),
    incrementalChangedKeys: Math.round(changedKeys / Math.max(1, updates)),
  };
}
