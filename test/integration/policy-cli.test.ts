import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Command, CommanderError } from 'commander';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection, Subscription } from 'nats';
import {
  CONFIG,
  connectAs,
  encodeJson,
  okReply,
  type AgentPolicyRuleCounters,
  type AgentStatus,
} from '@strata/bus';
import { policyRuleId } from '@strata/domain';
import { registerPolicyCommands } from '../../services/cli/src/client/policy.command';
import { describeError, formatCommanderOutput } from '../../services/cli/src/errors';
import { startConfigHarness, type ConfigHarness } from '../support/config-harness';

// `strata policy ...` against a real control plane: a real nats-server with generated
// credentials, the IPAM, policy and config services over a real SQLite file. The CLI's commands
// run in this process exactly as bin/strata runs them (the same registration, parse, error
// formatting and exit codes as services/cli/src/main.ts), with `--data-dir` and `--nats`
// pointing at the harness; stdout and stderr are captured. node-1 has an agent answering
// `strata.agent.node-1.status` with the AgentStatus contract (libs/bus/src/commands/agent.ts),
// counters included; node-2 is registered and has none, so it must show as not answering.

let h: ConfigHarness;
let files: string;
let agent: NatsConnection;
let agentSub: Subscription;
let counters: AgentPolicyRuleCounters[] = [];

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** One CLI invocation, as main.ts runs it. */
async function strata(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const program = new Command('strata').exitOverride().configureOutput({
    writeOut: (text) => out.push(text),
    writeErr: (text) => err.push(text),
    outputError: (text, write) => write(formatCommanderOutput(text)),
  });
  registerPolicyCommands(program);
  const log = console.log;
  console.log = (...parts: unknown[]) => out.push(`${parts.join(' ')}\n`);
  let code = 0;
  try {
    await program.parseAsync([
      'node',
      'strata',
      ...args,
      '--data-dir',
      h.dir,
      '--nats',
      h.nats.url,
    ]);
  } catch (error) {
    if (error instanceof CommanderError) {
      code = error.exitCode;
    } else {
      err.push(`${describeError(error)}\n`);
      code = 1;
    }
  } finally {
    console.log = log;
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
}

async function ok(...args: string[]): Promise<string> {
  const run = await strata(...args);
  if (run.code !== 0) throw new Error(`strata ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}

async function file(name: string, text: string): Promise<string> {
  const path = join(files, name);
  await writeFile(path, text);
  return path;
}

const count = (packets: number) => ({ packets, bytes: packets * 100 });
const zero = count(0);

beforeAll(async () => {
  h = await startConfigHarness();
  files = await mkdtemp(join(tmpdir(), 'strata-policy-cli-'));
  for (const [i, name] of ['node-1', 'node-2'].entries()) {
    await h.client.execute(CONFIG.registerNode, {
      name,
      vtepAddress: `192.168.1.${i + 1}`,
      vtepMac: `52:54:00:00:00:0${i + 1}`,
    });
  }
  agent = await connectAs('agent-node-1', { dir: h.credentialsDir, servers: h.nats.url });
  agentSub = agent.subscribe('strata.agent.node-1.status', {
    callback: (error, msg) => {
      if (error !== null) return;
      const status: Partial<AgentStatus> = {
        node: 'node-1',
        registered: true,
        policyRules: counters,
      };
      msg.respond(encodeJson(okReply(status)));
    },
  });
  await agent.flush();
}, 60_000);

afterAll(async () => {
  agentSub?.unsubscribe();
  await agent?.close();
  await h?.close();
  if (files !== undefined) await rm(files, { recursive: true, force: true });
});

const networkPolicies = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: x
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-b
  namespace: x
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
      namespaceSelector: {matchLabels: {ns: y}}
    ports:
    - port: 80
    - {protocol: UDP, port: 81, endPort: 82}
    - port: http
  - from:
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
`;

describe('strata policy', () => {
  it('applies NetworkPolicy YAML (many documents), idempotently, and lists it', async () => {
    const path = await file('netpol.yaml', networkPolicies);
    const applied = await ok('policy', 'apply', '-f', path);
    expect(applied).toMatch(/k8s-x-deny-all\s+NetworkPolicy x\/deny-all\s+created\s+0\s+no/);
    expect(applied).toMatch(/k8s-x-allow-b\s+NetworkPolicy x\/allow-b\s+created\s+0\s+no/);
    expect(await ok('policy', 'apply', '-f', path)).toMatch(/k8s-x-allow-b .*unchanged\s+0/);

    const list = await ok('policy', 'list');
    expect(list.split('\n')[0]).toMatch(/^POLICY\s+TIER\s+PRIORITY\s+NAME\s+SELECTOR/);
    expect(list).toMatch(
      /k8s-x-allow-b\s+application\s+1000\s+allow-b\s+pod=a, strata.io\/namespace=x/,
    );
    const json = JSON.parse(await ok('policy', 'list', '-o', 'json')) as {
      policies: { policyId: string }[];
    };
    expect(json.policies.map((p) => p.policyId)).toEqual(['k8s-x-allow-b', 'k8s-x-deny-all']);
    expect(await ok('policy', 'list', '--tier', 'platform')).toBe('(no policies)\n');
  });

  it('applies Strata JSON and a Kubernetes List', async () => {
    const strataPolicy = await file(
      'strata.json',
      JSON.stringify({
        policyId: 'no-metadata',
        name: 'no-metadata',
        tier: 'platform',
        priority: 10,
        selector: {},
        egress: [{ action: 'deny', peers: [{ cidr: '169.254.169.254/32' }] }],
      }),
    );
    expect(await ok('policy', 'apply', '-f', strataPolicy)).toMatch(
      /no-metadata\s+strata\s+created/,
    );
    const list = await file(
      'list.yaml',
      `apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: from-list, namespace: z}
  spec: {podSelector: {}}
`,
    );
    expect(await ok('policy', 'apply', '-f', list)).toMatch(/k8s-z-from-list .*created/);
  });

  it('shows the spec, rules with their ids, and counters summed over answering agents', async () => {
    const inbound0 = policyRuleId('k8s-x-allow-b', 'ingress', 0);
    const inbound1 = policyRuleId('k8s-x-allow-b', 'ingress', 1);
    counters = [
      {
        rule: inbound0,
        policyId: 'k8s-x-allow-b',
        tier: 'application',
        direction: 'ingress',
        index: 0,
        allowed: count(7),
        denied: zero,
        stagedWouldDeny: zero,
        stagedWouldAllow: zero,
      },
    ];
    const shown = await ok('policy', 'show', 'k8s-x-allow-b');
    expect(shown).toContain('policy k8s-x-allow-b (revision 0)');
    expect(shown).toContain('source:     NetworkPolicy x/allow-b');
    expect(shown).toContain('selects:    pod=a, strata.io/namespace=x');
    const rows = shown.split('\n');
    const row0 = rows.find((line) => line.startsWith(String(inbound0)));
    expect(row0).toMatch(
      /ingress\s+0\s+allow\s+ns.strata.io\/ns=y, pod=b, strata.io\/namespace\s+TCP\/80, TCP\/http, UDP\/81-82\s+7\/700\s+0\/0$/,
    );
    const row1 = rows.find((line) => line.startsWith(String(inbound1)));
    expect(row1).toMatch(
      /ingress\s+1\s+allow\s+10.0.0.0\/8 except 10.1.0.0\/16\s+any\s+0\/0\s+0\/0$/,
    );
    expect(shown).toContain('from 1 node(s): node-1; not answering: node-2');

    const json = JSON.parse(await ok('policy', 'show', 'k8s-x-allow-b', '-o', 'json')) as {
      rules: { ruleId: number; counters: { allowed: { packets: number } } }[];
      nodes: { answered: string[]; notAnswering: string[] };
    };
    expect(json.rules.map((r) => r.ruleId)).toEqual([inbound0, inbound1]);
    expect(json.rules[0].counters.allowed.packets).toBe(7);
    expect(json.nodes).toEqual({ answered: ['node-1'], notAnswering: ['node-2'] });

    expect(await ok('policy', 'show', 'k8s-x-deny-all')).toContain(
      'ingress: no rules (selected endpoints are isolated: nothing allowed)',
    );
  }, 20_000);

  it('stages: a new policy is staged and shows would-deny counts; an enforced one is refused', async () => {
    const staged = await file(
      'staged.yaml',
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lock-down, namespace: x}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}]
`,
    );
    expect(await ok('policy', 'stage', '-f', staged)).toMatch(
      /k8s-x-lock-down .*created\s+0\s+yes/,
    );
    counters = [
      {
        rule: policyRuleId('k8s-x-lock-down', 'ingress', 0),
        policyId: 'k8s-x-lock-down',
        tier: 'application',
        direction: 'ingress',
        index: 0,
        allowed: zero,
        denied: zero,
        stagedWouldDeny: count(3),
        stagedWouldAllow: count(1),
      },
    ];
    const shown = await ok('policy', 'show', 'k8s-x-lock-down');
    expect(shown).toContain('STAGED: evaluated and counted, not enforced');
    expect(shown).toMatch(/WOULD DENY\s+WOULD ALLOW/);
    expect(shown).toMatch(/3\/300\s+1\/100$/m);

    // Applying the same file enforces it; staging over an enforced policy is refused.
    expect(await ok('policy', 'apply', '-f', staged)).toMatch(/k8s-x-lock-down .*updated\s+1\s+no/);
    const refused = await strata('policy', 'stage', '-f', staged);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^strata: InvalidState: policy k8s-x-lock-down is enforced/);
  }, 20_000);

  it('deletes, idempotently', async () => {
    expect(await ok('policy', 'delete', 'k8s-z-from-list')).toBe(
      'policy k8s-z-from-list deleted\n',
    );
    expect(await ok('policy', 'delete', 'k8s-z-from-list')).toBe(
      'policy k8s-z-from-list deleted\n',
    );
    const gone = await strata('policy', 'show', 'k8s-z-from-list');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^strata: NotFound: policy k8s-z-from-list was deleted/);
    expect(await ok('policy', 'list')).not.toContain('k8s-z-from-list');
  });

  it.each([
    [
      'YAML that does not parse',
      'a: [1, 2\nb: 3',
      /^strata: Malformed: .*bad\.yaml is not valid YAML or JSON: line 2, column 1: missed comma/,
    ],
    [
      'a NetworkPolicy with a bad field, naming document and field',
      `${networkPolicies}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: broken, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: 90, endPort: 80}]
`,
      /^strata: InvalidPort: .*bad\.yaml, document 3 \(NetworkPolicy x\/broken\): spec.ingress\[0\].ports\[0\].endPort/,
    ],
    [
      'another kind',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n',
      /^strata: InvalidArgument: .*document 1 \(Pod default\/p\): apiVersion: must be networking.k8s.io\/v1/,
    ],
    ['neither form', 'name: x\n', /^strata: InvalidArgument: .*neither a Kubernetes NetworkPolicy/],
    [
      'a Strata policy with an unknown field',
      '{"policyId": "p", "action": "allow"}',
      /^strata: UnknownField: /,
    ],
    ['nothing at all', '---\n', /^strata: InvalidArgument: .*holds no policies/],
  ])(
    'rejects %s with a clear error, a non-zero exit, and applies nothing',
    async (_case, text, message) => {
      const before = await ok('policy', 'list', '-o', 'json');
      const run = await strata('policy', 'apply', '-f', await file('bad.yaml', text));
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe('');
      expect(await ok('policy', 'list', '-o', 'json')).toBe(before);
    },
  );

  it('rejects a missing file, a bad id and a missing -f before sending anything', async () => {
    const missing = await strata('policy', 'apply', '-f', join(files, 'nope.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^strata: Unreadable: cannot read .*nope\.yaml/);
    const badId = await strata('policy', 'show', 'a.b');
    expect(badId.code).toBe(1);
    expect(badId.stderr).toMatch(/^strata: InvalidId: /);
    const noFile = await strata('policy', 'apply');
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toMatch(/^strata: InvalidArgument: required option '-f, --file <file>'/);
  });
});
