import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabControl } from '../../../services/cli/src/lab/control';
import { credentialsDir } from '../../../services/cli/src/lab/processes';
import { runFile, strata, succeeded, type Lab, type LabProcess } from '../lab-harness';
import { NAMED_PORTS } from './oracle';
import {
  CASES,
  NAMESPACES,
  PODS,
  type Case,
  type Observed,
  type PodId,
  type ProbeOutcome,
} from './reachability';
import type { Action } from './scenarios';

/**
 * The upstream NetworkPolicy test cluster in a `strata lab`: nine pods (x, y, z times a, b, c)
 * over three nodes, each node holding one pod of every namespace and of every letter, so six of
 * the eight other pods of any pod are on another node; servers on TCP and UDP 80 and 81 in every
 * pod (server.js), probe rounds from every pod (prober.js), and the scenario actions through the
 * CLI as a user runs them.
 */

export const SERVER_JS = join(__dirname, 'server.js');
export const PROBER_JS = join(__dirname, 'prober.js');
/**
 * No answer within this long is a drop (prober.js says why that is the honest signal). Allowed
 * probes answered in 70-230 ms with the 2-core machine at load average 10 (36 probes at once,
 * nine probers in parallel), so 1 s; a denied probe costs it once per round, not per probe.
 */
export const PROBE_TIMEOUT_MS = 1_000;
/**
 * A timeout is only absence of evidence: a prober starved of CPU for a second (the CI machine
 * runs other suites beside this one) times out on probes that would have answered, its own
 * loopback ones included. So every timed-out probe is sent once more, as a new flow, with this
 * longer timeout, and only a second silence counts as a drop. An answer is final either way: a
 * probe that should be denied cannot pass by being repeated, and an allowed one is never retried.
 */
export const CONFIRM_TIMEOUT_MS = 3_000;

const NODES = ['n1', 'n2', 'n3'];

interface ProbeTarget {
  readonly id: string;
  readonly pod: string;
  readonly protocol: string;
  readonly port: number;
}

/** Runs prober.js once in pod `from`'s namespace; outcomes in the order of `targets`. */
async function runProber(
  byName: ReadonlyMap<string, { namespace: string; ip: string }>,
  from: string,
  targets: readonly ProbeTarget[],
  timeoutMs: number,
  sourcePortBase: number,
): Promise<{ id: string; outcome: string; ms: number }[]> {
  const client = byName.get(from);
  if (client === undefined) throw new Error(`the lab has no pod ${from}`);
  const request = {
    timeoutMs,
    sourcePortBase,
    targets: targets.map(({ id, pod, protocol, port }) => {
      const ip = byName.get(pod)?.ip;
      if (ip === undefined) throw new Error(`the lab has no pod ${pod}`);
      return { id, ip, protocol, port };
    }),
  };
  const output = succeeded(
    `prober in ${from}`,
    await runFile('nsenter', [
      `--net=/run/netns/${client.namespace}`,
      process.execPath,
      PROBER_JS,
      JSON.stringify(request),
    ]),
  );
  const { results } = JSON.parse(output) as {
    results: { id: string; outcome: string; reply: string; ms: number }[];
  };
  return results.map((result, i) => ({
    id: result.id,
    outcome:
      result.outcome === 'answered' && result.reply !== targets[i].pod
        ? `answered by ${result.reply}`
        : result.outcome,
    ms: result.ms,
  }));
}

/** `x/a` -> `x-a`, the lab pod's name. */
export function labPod(id: PodId): string {
  return id.replace('/', '-');
}

/** Node of each pod: a Latin square, so most pairs cross nodes. */
export function nodeOf(id: PodId): string {
  const [ns, letter] = id.split('/');
  return NODES[(NAMESPACES.indexOf(ns as never) + 'abc'.indexOf(letter)) % NODES.length];
}

/** The `lab up --pods-file` content. */
export function podsFile(): unknown {
  return {
    namespaces: Object.fromEntries(NAMESPACES.map((ns) => [ns, { ns }])),
    pods: PODS.map((id) => {
      const [namespace, letter] = id.split('/');
      return {
        name: labPod(id),
        node: nodeOf(id),
        namespace,
        labels: { pod: letter },
        namedPorts: NAMED_PORTS,
      };
    }),
  };
}

/** Writes the pods file into a fresh temporary directory; returns its path. */
export function writePodsFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'strata-netpol-')), 'pods.json');
  writeFileSync(path, JSON.stringify(podsFile(), null, 2));
  return path;
}

export function netpolLab(lab: Lab) {
  let round = 0;
  let files = 0;
  const yamlDir = mkdtempSync(join(tmpdir(), 'strata-netpol-yaml-'));
  const servers: LabProcess[] = [];
  let control: LabControl | undefined;

  const self = {
    /**
     * A server in every pod, each waited on by its `listening` line. Started with `nsenter
     * --net=` directly (what `lab exec` runs): nine CLI processes starting at once on a loaded
     * 2-core machine took longer than the servers themselves.
     */
    async startServers(): Promise<void> {
      const state = await lab.state();
      for (const id of PODS) {
        const namespace = state.pods.find((p) => p.name === labPod(id))?.namespace;
        if (namespace === undefined) throw new Error(`the lab has no pod ${labPod(id)}`);
        // spawnInNode runs in `<prefix><name>`: a pod's namespace is `<prefix><slot>`.
        servers.push(
          lab.spawnInNode(namespace.slice(lab.prefix.length), [
            process.execPath,
            SERVER_JS,
            labPod(id),
            '80',
            '81',
          ]),
        );
      }
      await Promise.all(servers.map((server) => server.waitFor(/^listening /m, 60_000)));
    },

    /**
     * One probe round: every ordered pod pair, TCP and UDP, 80 and 81; one prober per client
     * pod, all at once, every probe a new flow (source ports never reused within a test run).
     */
    async probe(): Promise<Observed> {
      const state = await lab.state();
      const byName = new Map(state.pods.map((p) => [p.name, p]));
      const base = 20_000 + (round++ % 1_000) * 40;
      const observed = Object.fromEntries(
        CASES.map((c) => [c, new Map<string, ProbeOutcome>()]),
      ) as Record<Case, Map<string, ProbeOutcome>>;
      await Promise.all(
        PODS.map(async (from) => {
          const targets = PODS.flatMap((to) =>
            CASES.map((c) => {
              const [protocol, port] = c.split('/');
              return { id: `${to}|${c}`, pod: labPod(to), protocol, port: Number(port) };
            }),
          );
          const results = await self.probeFrom(labPod(from), targets, base, byName);
          for (const result of results) {
            const [to, c] = result.id.split('|') as [PodId, Case];
            observed[c].set(`${from}>${to}`, { outcome: result.outcome, ms: result.ms });
          }
        }),
      );
      return observed;
    },

    /**
     * One prober run in pod `from`: each target a lab pod (by name), protocol and port, and a
     * second run, with CONFIRM_TIMEOUT_MS, of the targets that timed out. An answer from another
     * pod than the one aimed at is not "allowed": it comes back as `answered by <pod>`.
     */
    async probeFrom(
      from: string,
      targets: readonly ProbeTarget[],
      sourcePortBase = 20_000 + (round++ % 1_000) * 40,
      pods?: ReadonlyMap<string, { namespace: string; ip: string }>,
    ): Promise<{ id: string; outcome: string; ms: number }[]> {
      const byName = pods ?? new Map((await lab.state()).pods.map((p) => [p.name, p]));
      const results = await runProber(byName, from, targets, PROBE_TIMEOUT_MS, sourcePortBase);
      const silent = targets.filter((_, i) => results[i].outcome === 'timeout');
      if (silent.length === 0) return results;
      const confirmed = new Map(
        (
          await runProber(byName, from, silent, CONFIRM_TIMEOUT_MS, 20_000 + (round++ % 1_000) * 40)
        ).map((result) => [result.id, result]),
      );
      return results.map((result) => confirmed.get(result.id) ?? result);
    },

    /** A scenario action, through the CLI; returns once every agent applied it. */
    async act(action: Action): Promise<void> {
      if ('apply' in action) {
        const file = join(yamlDir, `policy-${files++}.yaml`);
        writeFileSync(file, action.apply);
        succeeded('policy apply', await lab.client(['policy', 'apply', '-f', file]));
        await self.waitApplied();
      } else if ('delete' in action) {
        succeeded(
          `policy delete ${action.delete}`,
          await lab.client(['policy', 'delete', policyId(action.delete)]),
        );
        await self.waitApplied();
      } else if ('labelPod' in action) {
        succeeded(
          `lab pod label ${action.labelPod}`,
          await strata(['lab', 'pod', 'label', ...lab.at, labPod(action.labelPod), action.labels]),
        );
      } else {
        succeeded(
          `lab namespace label ${action.labelNamespace}`,
          await strata([
            'lab',
            'namespace',
            'label',
            ...lab.at,
            action.labelNamespace,
            action.labels,
          ]),
        );
      }
    },

    /**
     * Every agent applied the log up to its head (a signal, not a sleep): what `strata lab
     * wait` does, in process (a CLI start per step costs seconds on a loaded machine).
     */
    async waitApplied(): Promise<number> {
      const state = await lab.state();
      if (control === undefined) {
        const server = state.server;
        if (server?.natsUrl == null) throw new Error(`lab ${lab.name} has no server`);
        control = await LabControl.open(server.natsUrl, credentialsDir(server));
      }
      return control.waitApplied(
        state.nodes.map((node) => node.name),
        60_000,
      );
    },

    async close(): Promise<void> {
      await control?.close();
    },

    /**
     * Back to the start, whatever a scenario left (a failed step included): every policy the
     * server lists is deleted, every label the actions set is removed again; then waits until
     * every agent applied that.
     */
    async reset(actions: readonly Action[]): Promise<void> {
      const listed = JSON.parse(
        succeeded('policy list', await lab.client(['policy', 'list', '-o', 'json'])),
      ) as { policies: { policyId: string }[] };
      for (const { policyId: id } of listed.policies) {
        succeeded(`policy delete ${id}`, await lab.client(['policy', 'delete', id]));
      }
      for (const action of actions) {
        if (!('labels' in action)) continue;
        const remove = action.labels
          .split(',')
          .filter((part) => part.includes('='))
          .map((part) => `${part.split('=')[0]}-`)
          .join(',');
        if (remove === '') continue;
        await self.act(
          'labelPod' in action
            ? { labelPod: action.labelPod, labels: remove }
            : { labelNamespace: action.labelNamespace, labels: remove },
        );
      }
      await self.waitApplied();
    },
  };
  return self;
}

/** The Strata policy a NetworkPolicy `<ns>/<name>` becomes (docs/policy.md). */
export function policyId(key: string): string {
  const [ns, name] = key.split('/');
  return `k8s-${ns}-${name}`;
}
