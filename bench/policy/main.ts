/**
 * bench/policy: what policy costs, from one run, printed as one table.
 *
 * (a) compile: a generated cluster (bench/policy/generate.ts: ENDPOINTS pods over NAMESPACES
 *     namespaces and NODES nodes, POLICIES policies — Kubernetes NetworkPolicy-like, set-based,
 *     tiered) folded into one node's ForwardingState, the code every agent runs, and its tables
 *     read (the lazy policy compile): fold and compile time (medians of ROUNDS), heap and RSS
 *     growth with the state alive, entries produced, and the same per object beside Antrea's
 *     published figure (100,000 pods + 75,000 NetworkPolicies in about 6 s and 1.6 GB in its
 *     controller). Then one policy changed after the big compile (UPDATES times, median).
 * (b) propagation: a `strata lab` of LAB_NODES nodes (real server, real agents, BPF); a policy
 *     selecting every pod is applied CHANGES times with a new port; from each event's append to
 *     every node's applied report: p50/p99/max (bench/policy/propagation.ts).
 *
 *   npm run bench:policy   (ENDPOINTS=50000 POLICIES=10000 NAMESPACES=100 NODES=1000 ROUNDS=3
 *                           UPDATES=20 LAB_NODES=3 CHANGES=50 PARTS=compile,propagation)
 *
 * Antrea's figure is its controller computing the whole cluster's policy in one process; (a) is
 * one node's share, which is what a Strata agent computes (each node compiles only for the
 * identities it hosts). Both are printed per object so they can stand side by side; the
 * comparison is of that per-object cost, not of the same work.
 */
import { renderTable } from '../../services/cli/src/output/table';
import { formatRate, positiveIntFromEnv as positiveInt } from '../support/stats';
import { measureCompile, type CompileFigures } from './compile';
import { measurePropagation, type PropagationFigures } from './propagation';

const ANTREA = { objects: 100_000 + 75_000, ms: 6_000, bytes: 1.6e9 };
const PARTS = new Set((process.env.PARTS ?? 'compile,propagation').split(','));

/** `ratio` = Antrea's cost / ours: above 1 we beat it. */
const versus = (ratio: number, better: string, worse: string) =>
  ratio >= 1 ? `${ratio.toFixed(1)}x ${better}` : `${(1 / ratio).toFixed(1)}x ${worse}`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const ms = (value: number) => `${value.toFixed(value < 100 ? 1 : 0)} ms`;

async function main(): Promise<void> {
  const log = (line: string) => console.error(`bench:policy: ${line}`);
  let compile: CompileFigures | undefined;
  let propagation: PropagationFigures | undefined;
  if (PARTS.has('compile')) {
    const size = {
      nodes: positiveInt('NODES', 1_000),
      endpoints: positiveInt('ENDPOINTS', 50_000),
      namespaces: positiveInt('NAMESPACES', 100),
      policies: positiveInt('POLICIES', 10_000),
    };
    log(`compile: ${size.endpoints} endpoints, ${size.policies} policies, ${size.nodes} nodes`);
    compile = measureCompile(size, positiveInt('ROUNDS', 3), positiveInt('UPDATES', 20));
  }
  if (PARTS.has('propagation')) {
    propagation = await measurePropagation(
      positiveInt('LAB_NODES', 3),
      positiveInt('CHANGES', 50),
      log,
    );
  }

  const rows: string[][] = [];
  if (compile !== undefined) {
    const objects = compile.size.endpoints + compile.size.policies;
    const perObjectUs = (compile.totalMs * 1_000) / objects;
    const antreaUs = (ANTREA.ms * 1_000) / ANTREA.objects;
    const perObjectBytes = compile.heapBytes / objects;
    const antreaBytes = ANTREA.bytes / ANTREA.objects;
    rows.push(
      [
        'compile: fold of the log (median)',
        `${formatRate(compile.size.endpoints)} endpoints (${formatRate(compile.identities)} identities), ` +
          `${formatRate(compile.size.policies)} policies, ${formatRate(compile.size.nodes)} nodes`,
        ms(compile.foldMs),
      ],
      [
        'compile: policy tables, first read (median)',
        `node with ${compile.localEndpoints} local endpoints`,
        ms(compile.compileMs),
      ],
      [
        'compile: total (median of ' + compile.rounds + ')',
        `${formatRate(objects)} objects`,
        ms(compile.totalMs),
      ],
      [
        'compile: heap growth / RSS growth',
        'after GC, state alive',
        `${mb(compile.heapBytes)} / ${mb(compile.rssBytes)}`,
      ],
      [
        'compile: entries',
        'policy / prefixes / rules / local / remote',
        [
          compile.entries.policy,
          compile.entries.prefixes,
          compile.entries.rules,
          compile.entries.local,
          compile.entries.remote,
        ]
          .map(formatRate)
          .join(' / '),
      ],
      [
        'compile: time per object',
        `Antrea: ${antreaUs.toFixed(1)} µs (6 s / 175,000)`,
        `${perObjectUs.toFixed(1)} µs (${versus(antreaUs / perObjectUs, 'faster', 'slower')})`,
      ],
      [
        'compile: heap per object',
        `Antrea: ${(antreaBytes / 1e3).toFixed(1)} KB (1.6 GB / 175,000)`,
        `${(perObjectBytes / 1e3).toFixed(2)} KB (${versus(antreaBytes / perObjectBytes, 'less', 'more')})`,
      ],
      [
        'incremental: one policy changed, fold + recompile (median)',
        `~${formatRate(compile.incrementalChangedKeys)} table keys changed`,
        ms(compile.incrementalMs),
      ],
    );
  }
  if (propagation !== undefined) {
    rows.push(
      [
        'propagation: policy change -> enforced on all nodes',
        `${propagation.changes} changes, ${propagation.nodes} lab nodes (BPF)`,
        `p50 ${ms(propagation.allNodes.p50)}, p99 ${ms(propagation.allNodes.p99)}, max ${ms(propagation.allNodes.max)}`,
      ],
      [
        'propagation: per node',
        `${propagation.changes * propagation.nodes} (change, node) pairs`,
        `p50 ${ms(propagation.perNode.p50)}, p99 ${ms(propagation.perNode.p99)}, max ${ms(propagation.perNode.max)}`,
      ],
    );
  }
  console.log(renderTable(['measure', 'setup', 'result'], rows));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
