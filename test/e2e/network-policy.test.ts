import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strata, succeeded, useLab } from '../support/lab-harness';
import { netpolLab, writePodsFile } from '../support/netpol/lab-netpol';
import { Oracle } from '../support/netpol/oracle';
import {
  CASES,
  everyCase,
  formatTables,
  mismatches,
  PODS,
  Reachability,
  type Expected,
  type Observed,
} from '../support/netpol/reachability';
import { SCENARIOS, type Action } from '../support/netpol/scenarios';

// The upstream Kubernetes NetworkPolicy e2e scenarios as truth tables, probed in a real lab:
// three nodes with real agents programming the BPF dataplane, nine pods (namespaces x, y, z;
// pods a, b, c), every ordered pod pair on TCP and UDP, ports 80 and 81, one probe each, no
// retries. Policies go in as Kubernetes YAML through `strata policy apply -f`, labels change
// through `strata lab pod label` / `lab namespace label`, and every probe round waits first
// until every agent has applied the log up to its head. After each scenario its policies are
// deleted and a round checks that everything is allowed again.

jest.setTimeout(120_000);

describe('the NetworkPolicy truth tables', () => {
  // The tables are written by hand; an independent evaluator of the YAML must agree with them.
  it.each(SCENARIOS.map((scenario) => [scenario.name, scenario] as const))(
    'agree with an independent reading of the Kubernetes semantics: %s',
    (_name, scenario) => {
      const oracle = new Oracle();
      for (const [i, step] of scenario.steps.entries()) {
        for (const action of step.actions) oracle.act(action);
        const derived = oracle.table();
        const wrong = mismatches(step.expect, asObserved(derived));
        if (wrong.length > 0) {
          throw new Error(
            `step ${i + 1}: the table differs from the oracle (observed = oracle):\n` +
              formatTables(step.expect, asObserved(derived), [
                ...new Set(wrong.map((w) => w.case)),
              ]),
          );
        }
      }
    },
  );

  it('would catch a wrong table', () => {
    const oracle = new Oracle();
    oracle.act(SCENARIOS[0].steps[0].actions[0]);
    // default-deny-ingress in x: into each of x's 3 pods, from the 8 other pods, in every case.
    expect(mismatches(everyCase(new Reachability(true)), asObserved(oracle.table()))).toHaveLength(
      CASES.length * 3 * 8,
    );
  });
});

const dataDir = mkdtempSync(join(tmpdir(), 'strata-netpol-e2e-'));
const podsFile = writePodsFile();

describe('NetworkPolicy truth tables in the lab', () => {
  const lab = useLab({
    name: `np${process.pid % 100_000}`,
    dataDir,
    upFlags: ['--nodes', '3', '--pods-file', podsFile],
  });
  const netpol = netpolLab(lab);

  beforeAll(async () => {
    await netpol.startServers();
  }, 60_000);

  afterAll(async () => {
    await netpol.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('places nine pods over three nodes, labelled by namespace and pod', async () => {
    const status = await lab.status();
    const pods = status.pods.filter((pod) => pod.k8sNamespace !== null);
    expect(pods.map((pod) => pod.name).sort()).toEqual(PODS.map((id) => id.replace('/', '-')));
    const xa = pods.find((pod) => pod.name === 'x-a');
    expect(xa?.labels).toMatchObject({
      pod: 'a',
      'strata.io/namespace': 'x',
      'ns.strata.io/ns': 'x',
    });
    expect(new Set(pods.map((pod) => pod.node))).toEqual(new Set(['n1', 'n2', 'n3']));
  });

  it('lets every pod reach every pod on TCP and UDP 80 and 81 before any policy', async () => {
    const head = Number(succeeded('lab wait', await strata(['lab', 'wait', ...lab.at])).trim());
    expect(head).toBeGreaterThan(0);
    check('no policy', everyCase(new Reachability(true)), await netpol.probe());
  });

  for (const scenario of SCENARIOS) {
    it(scenario.name, async () => {
      const done: Action[] = [];
      let failure: unknown;
      try {
        for (const [i, step] of scenario.steps.entries()) {
          for (const action of step.actions) {
            done.push(action);
            await netpol.act(action);
          }
          check(`${scenario.name}, step ${i + 1}`, step.expect, await netpol.probe());
        }
      } catch (error) {
        failure = error;
      }
      // Whatever happened, the next scenario starts from no policy and the original labels.
      try {
        await netpol.reset(done);
      } catch (error) {
        if (failure === undefined) throw error;
      }
      if (failure !== undefined) throw failure;
      check(`${scenario.name}: reset`, everyCase(new Reachability(true)), await netpol.probe());
    });
  }

  it('reports what a staged policy would deny while the traffic still flows', async () => {
    const staged = join(dataDir, 'staged.json');
    writeFileSync(
      staged,
      JSON.stringify({
        policyId: 'staged-y-to-x',
        name: 'staged-y-to-x',
        tier: 'platform',
        priority: 100,
        selector: { matchLabels: { 'strata.io/namespace': 'x' } },
        directions: ['ingress'],
        ingress: [
          {
            action: 'deny',
            peers: [{ selector: { matchLabels: { 'strata.io/namespace': 'y' } } }],
          },
        ],
      }),
    );
    try {
      succeeded('policy stage', await lab.client(['policy', 'stage', '-f', staged]));
      await netpol.waitApplied();
      check('staged deny y -> x', everyCase(new Reachability(true)), await netpol.probe());
      const shown = JSON.parse(
        succeeded(
          'policy show',
          await lab.client(['policy', 'show', 'staged-y-to-x', '-o', 'json']),
        ),
      ) as {
        rules: { counters: Record<string, { packets: number }> }[];
        nodes: { answered: string[] };
      };
      expect(shown.nodes.answered.sort()).toEqual(['n1', 'n2', 'n3']);
      // One new flow per (y pod, x pod, case) — 3 x 3 x 4 — each counted once, at the node
      // that received it; replies and the rest of each connection ride conntrack, uncounted.
      const { counters } = shown.rules[0];
      expect(counters.stagedWouldDeny.packets).toBe(3 * 3 * CASES.length);
      expect(counters.denied.packets).toBe(0);
    } finally {
      await netpol.reset([]);
    }
  });

  it('takes a pod added later (`lab pod add`) into a namespace selected by its Kubernetes name', async () => {
    succeeded(
      'lab pod add',
      await strata([
        'lab',
        'pod',
        'add',
        ...lab.at,
        'w-a',
        '--node',
        'n2',
        '--namespace',
        'w',
        '--labels',
        'pod=a',
      ]),
    );
    const status = await lab.status();
    expect(status.pods.find((pod) => pod.name === 'w-a')?.labels).toMatchObject({
      pod: 'a',
      'strata.io/namespace': 'w',
      'ns.strata.io/ns': 'w',
      'kubernetes.io.ns.strata.io/metadata.name': 'w',
    });
    const policy = {
      apply: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-from-w
  namespace: x
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: w
`,
    };
    try {
      await netpol.act(policy);
      const probe = (from: string) =>
        netpol.probeFrom(from, [
          { id: `${from}>x-a TCP/80`, pod: 'x-a', protocol: 'TCP', port: 80 },
          { id: `${from}>x-a UDP/81`, pod: 'x-a', protocol: 'UDP', port: 81 },
          { id: `${from}>x-b TCP/80`, pod: 'x-b', protocol: 'TCP', port: 80 },
        ]);
      const [fromW, fromY] = await Promise.all([probe('w-a'), probe('y-a')]);
      expect(fromW.map((r) => r.outcome)).toEqual(['answered', 'answered', 'answered']);
      expect(fromY.map((r) => r.outcome)).toEqual(['timeout', 'timeout', 'answered']);
    } finally {
      await netpol.reset([policy]);
    }
  });
});

function check(what: string, expected: Expected, observed: Observed): void {
  const wrong = mismatches(expected, observed);
  if (wrong.length === 0) return;
  const cases = [...new Set(wrong.map((w) => w.case))];
  throw new Error(
    `${what}: ${wrong.length} of ${PODS.length * PODS.length * CASES.length} probes differ ` +
      `(. allowed, X denied; observed ! allowed but should not be, # denied but should not be, ? other)\n` +
      formatTables(expected, observed, cases) +
      wrong
        .slice(0, 20)
        .map(
          (w) =>
            `  ${w.case} ${w.from} -> ${w.to}: expected ${w.expected ? 'allowed' : 'denied'}, got ${w.observed}`,
        )
        .join('\n'),
  );
}

/** A table as if it had been observed (answered = allowed, timeout = denied). */
function asObserved(table: Expected): Observed {
  return Object.fromEntries(
    CASES.map((c) => [
      c,
      new Map(
        PODS.flatMap((from) =>
          PODS.map((to) => [
            `${from}>${to}`,
            { outcome: table[c].get(from, to) ? 'answered' : 'timeout', ms: 0 },
          ]),
        ),
      ),
    ]),
  ) as unknown as Observed;
}
