import {
  CONFIG,
  POLICY,
  type AgentPolicyRuleCounters,
  type ApplyPolicyReply,
  type ApplyPolicyRequest,
  type Count,
  type PolicyView,
} from '@strata/bus';
import {
  POLICY_DIRECTIONS,
  POLICY_TIERS,
  policyRuleId,
  translateNetworkPolicy,
  type LabelSelector,
  type PolicyDirection,
  type PolicyPeer,
  type PolicyPort,
  type PolicyRule,
  type PolicyTier,
} from '@strata/domain';
import { Option, type Command } from 'commander';
import { loadAll, YAMLException } from 'js-yaml';
import { readFile } from 'node:fs/promises';
import { CliError } from '../errors';
import {
  checkName,
  checkRequest,
  clientCommand,
  print,
  table,
  type ClientOptions,
} from './options';
import { withSession, type Session } from './session';

/**
 * `strata policy apply|stage|list|show|delete`: tiered policies (docs/policy.md).
 *
 * `apply -f <file|->` takes Kubernetes NetworkPolicy YAML (one or many documents, or a List)
 * or Strata's own policies in JSON or YAML (`{policyId, name, tier, priority, selector,
 * directions?, ingress?, egress?, staged?}`, the policy service's apply request). Every document
 * is checked before anything is sent, so a bad one applies nothing; then each is applied
 * (create or replace; unchanged ones append nothing). `stage` does the same with staged: true,
 * and refuses to turn an enforced policy into a staged one. `show` prints the spec, its rules
 * with their rule ids, and the counters every node's agent reports per rule (summed; staged
 * policies' rules count what they would deny or allow).
 */

/** How long `show` waits for each agent's status (asked in parallel). */
export const AGENT_STATUS_TIMEOUT_MS = 1_500;

type FileOptions = ClientOptions & { file: string };

export function registerPolicyCommands(program: Command): void {
  const policy = program
    .command('policy')
    .description(
      'tiered micro-segmentation policies (Kubernetes NetworkPolicy or Strata JSON/YAML)',
    );

  clientCommand(
    policy,
    'apply',
    'create or replace the policies of a file (Kubernetes NetworkPolicy YAML or Strata JSON/YAML)',
  )
    .requiredOption('-f, --file <file>', "the file ('-' for standard input)")
    .action((options: FileOptions) => applyFile(options, false));

  clientCommand(
    policy,
    'stage',
    'apply the policies of a file as staged: evaluated and counted, not enforced',
  )
    .requiredOption('-f, --file <file>', "the file ('-' for standard input)")
    .action((options: FileOptions) => applyFile(options, true));

  clientCommand(policy, 'list', 'every policy in evaluation order (tier, priority, id)')
    .addOption(new Option('--tier <tier>', 'only this tier').choices([...POLICY_TIERS]))
    .action(async (options: ClientOptions & { tier?: PolicyTier }) => {
      const request = checkRequest(
        POLICY.listPolicies,
        options.tier === undefined ? {} : { tier: options.tier },
      );
      const { policies } = await withSession(options, (session) =>
        session.execute(POLICY.listPolicies, request),
      );
      print(options, { policies }, (data) => policyTable(data.policies));
    });

  clientCommand(
    policy,
    'show',
    "one policy: its spec, its rules with their ids, and the agents' counters per rule",
  )
    .argument('<id>', 'the policy id (`strata policy list` shows them)')
    .action(async (id: string, options: ClientOptions) => {
      const policyId = checkName(id, 'policy id');
      const shown = await withSession(options, async (session) => {
        const view = await session.execute(POLICY.getPolicy, { policyId });
        return showPolicy(view, await agentCounters(session));
      });
      print(options, shown, showText);
    });

  clientCommand(policy, 'delete', 'delete a policy (idempotent)')
    .argument('<id>', 'the policy id')
    .action(async (id: string, options: ClientOptions) => {
      const policyId = checkName(id, 'policy id');
      const result = await withSession(options, (session) =>
        session.execute(POLICY.deletePolicy, { policyId }),
      );
      print(options, result, (r) => `policy ${r.policyId} deleted`);
    });
}

// ---- apply / stage ------------------------------------------------------------------------

async function applyFile(options: FileOptions, staged: boolean): Promise<void> {
  const text = await readSource(options.file);
  const requests = policyRequests(text, options.file).map((request) =>
    staged ? { ...request, staged: true } : request,
  );
  const results = await withSession(options, async (session) => {
    if (staged) await refuseStagingEnforced(session, requests);
    const replies: ApplyPolicyReply[] = [];
    for (const request of requests)
      replies.push(await session.execute(POLICY.applyPolicy, request));
    return replies;
  });
  print(options, { policies: results }, (data) =>
    table(
      ['POLICY', 'SOURCE', 'RESULT', 'REVISION', 'STAGED'],
      data.policies.map((p) => [
        p.policyId,
        sourceText(p),
        p.outcome,
        String(p.revision),
        yesNo(p.staged),
      ]),
      '(the file holds no policies)',
    ),
  );
}

/** The file's text; `-` reads `stdin` to its end. */
export async function readSource(
  file: string,
  stdin: AsyncIterable<Buffer | string> = process.stdin,
): Promise<string> {
  try {
    if (file !== '-') return await readFile(file, 'utf8');
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    throw new CliError('Unreadable', `cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * Every policy of a file as an apply request, checked (a DomainError or a schema error names
 * the document and the field). YAML documents, JSON (a YAML subset), Lists of items.
 */
export function policyRequests(text: string, file: string): ApplyPolicyRequest[] {
  let documents: unknown[];
  try {
    documents = loadAll(text, undefined, { filename: file });
  } catch (error) {
    const message =
      error instanceof YAMLException
        ? `line ${error.mark.line + 1}, column ${error.mark.column + 1}: ${error.reason}`
        : (error as Error).message;
    throw new CliError('Malformed', `${file} is not valid YAML or JSON: ${message}`);
  }
  const objects = documents.flatMap((document, i) =>
    flattenList(document, `${file}, document ${i + 1}`),
  );
  if (objects.length === 0) throw new CliError('InvalidArgument', `${file} holds no policies`);
  return objects.map(({ value, where }) => {
    try {
      return policyRequest(value);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new CliError(
        typeof code === 'string' ? code : 'InvalidArgument',
        `${where}${describeDocument(value)}: ${(error as Error).message}`,
      );
    }
  });
}

function flattenList(document: unknown, where: string): { value: unknown; where: string }[] {
  if (document === null || document === undefined) return [];
  const kind = (document as { kind?: unknown }).kind;
  if (typeof kind === 'string' && kind.endsWith('List')) {
    const items = (document as { items?: unknown }).items;
    if (!Array.isArray(items)) {
      throw new CliError('InvalidArgument', `${where}: a ${kind} needs an items list`);
    }
    return items.map((item, i) => ({ value: item, where: `${where} item ${i + 1}` }));
  }
  return [{ value: document, where }];
}

function policyRequest(value: unknown): ApplyPolicyRequest {
  const document = value as { apiVersion?: unknown; kind?: unknown; policyId?: unknown } | null;
  if (document?.apiVersion !== undefined || document?.kind !== undefined) {
    const { policyId, spec } = translateNetworkPolicy(value);
    return { policyId, ...spec } as ApplyPolicyRequest;
  }
  if (typeof document !== 'object' || document === null || document.policyId === undefined) {
    throw new CliError(
      'InvalidArgument',
      'neither a Kubernetes NetworkPolicy (apiVersion, kind) nor a Strata policy (policyId, ...)',
    );
  }
  return checkRequest(POLICY.applyPolicy, value as ApplyPolicyRequest);
}

function describeDocument(value: unknown): string {
  const document = value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const name = document?.metadata?.name;
  if (typeof document?.kind !== 'string' || typeof name !== 'string') return '';
  const namespace =
    typeof document.metadata?.namespace === 'string' ? document.metadata.namespace : 'default';
  return ` (${document.kind} ${namespace}/${name})`;
}

/** Staging replaces the spec under an id: never do that to an enforced policy by accident. */
async function refuseStagingEnforced(
  session: Session,
  requests: ApplyPolicyRequest[],
): Promise<void> {
  for (const { policyId } of requests) {
    let current: PolicyView;
    try {
      current = await session.execute(POLICY.getPolicy, { policyId });
    } catch (error) {
      if ((error as { code?: unknown }).code === 'NotFound') continue;
      throw error;
    }
    if (!current.staged) {
      throw new CliError(
        'InvalidState',
        `policy ${policyId} is enforced; staging it would stop enforcing it. Stage the change under another name, or \`strata policy apply\` it`,
      );
    }
  }
}

// ---- list -----------------------------------------------------------------------------------

function policyTable(policies: readonly PolicyView[]): string {
  return table(
    ['POLICY', 'TIER', 'PRIORITY', 'NAME', 'SELECTOR', 'DIRECTIONS', 'RULES', 'STAGED', 'SOURCE'],
    policies.map((p) => [
      p.policyId,
      p.tier,
      String(p.priority),
      p.name,
      selectorText(p.selector),
      p.directions.join(','),
      `${p.ingress.length} in, ${p.egress.length} out`,
      yesNo(p.staged),
      sourceText(p),
    ]),
    '(no policies)',
  );
}

// ---- show -----------------------------------------------------------------------------------

interface RuleCounters {
  readonly allowed: Count;
  readonly denied: Count;
  readonly stagedWouldDeny: Count;
  readonly stagedWouldAllow: Count;
}

interface AgentCounters {
  readonly byRule: ReadonlyMap<number, RuleCounters>;
  /** Nodes whose agent answered, and registered nodes whose agent did not. */
  readonly answered: readonly string[];
  readonly notAnswering: readonly string[];
}

interface ShownRule extends PolicyRule {
  readonly ruleId: number;
  readonly direction: PolicyDirection;
  readonly index: number;
  readonly counters: RuleCounters;
}

interface ShownPolicy {
  readonly policy: PolicyView;
  readonly rules: readonly ShownRule[];
  readonly nodes: {
    readonly answered: readonly string[];
    readonly notAnswering: readonly string[];
  };
}

const ZERO: Count = { packets: 0, bytes: 0 };
const NO_COUNTS: RuleCounters = {
  allowed: ZERO,
  denied: ZERO,
  stagedWouldDeny: ZERO,
  stagedWouldAllow: ZERO,
};
const add = (a: Count, b: Count | undefined): Count => ({
  packets: a.packets + (b?.packets ?? 0),
  bytes: a.bytes + (b?.bytes ?? 0),
});

/** Asks every registered node's agent for its status, in parallel; sums counters per rule. */
async function agentCounters(session: Session): Promise<AgentCounters> {
  const { nodes } = await session.execute(CONFIG.listNodes, {});
  const statuses = await Promise.all(
    nodes.map(async (node) => ({
      node: node.name,
      status: await session.agentStatus(node.name, AGENT_STATUS_TIMEOUT_MS),
    })),
  );
  return sumCounters(
    statuses.map(({ node, status }) => ({
      node,
      rules: status?.policyRules,
      answered: status !== undefined,
    })),
  );
}

export function sumCounters(
  reports: readonly {
    node: string;
    answered: boolean;
    rules: readonly Pick<AgentPolicyRuleCounters, 'rule' | keyof RuleCounters>[] | undefined;
  }[],
): AgentCounters {
  const byRule = new Map<number, RuleCounters>();
  for (const report of reports) {
    for (const counters of report.rules ?? []) {
      const sum = byRule.get(counters.rule) ?? NO_COUNTS;
      byRule.set(counters.rule, {
        allowed: add(sum.allowed, counters.allowed),
        denied: add(sum.denied, counters.denied),
        stagedWouldDeny: add(sum.stagedWouldDeny, counters.stagedWouldDeny),
        stagedWouldAllow: add(sum.stagedWouldAllow, counters.stagedWouldAllow),
      });
    }
  }
  return {
    byRule,
    answered: reports.filter((r) => r.answered).map((r) => r.node),
    notAnswering: reports.filter((r) => !r.answered).map((r) => r.node),
  };
}

export function showPolicy(policy: PolicyView, counters: AgentCounters): ShownPolicy {
  const rules = POLICY_DIRECTIONS.flatMap((direction) =>
    policy[direction].map((rule, index): ShownRule => {
      const ruleId = policyRuleId(policy.policyId, direction, index);
      return {
        ruleId,
        direction,
        index,
        ...rule,
        counters: counters.byRule.get(ruleId) ?? NO_COUNTS,
      };
    }),
  );
  return {
    policy,
    rules,
    nodes: { answered: counters.answered, notAnswering: counters.notAnswering },
  };
}

export function showText({ policy, rules, nodes }: ShownPolicy): string {
  const lines = [
    `policy ${policy.policyId} (revision ${policy.revision})${policy.staged ? ' STAGED: evaluated and counted, not enforced' : ''}`,
    `  name:       ${policy.name}`,
    `  source:     ${sourceText(policy)}`,
    `  tier:       ${policy.tier}, priority ${policy.priority}`,
    `  selects:    ${selectorText(policy.selector)}`,
    `  directions: ${policy.directions.join(', ')}`,
  ];
  for (const direction of policy.directions) {
    if (policy[direction].length === 0) {
      lines.push(
        `  ${direction}: no rules${policy.tier === 'application' ? ' (selected endpoints are isolated: nothing allowed)' : ''}`,
      );
    }
  }
  const counted = (rule: ShownRule) =>
    policy.staged
      ? [count(rule.counters.stagedWouldDeny), count(rule.counters.stagedWouldAllow)]
      : [count(rule.counters.allowed), count(rule.counters.denied)];
  lines.push(
    '',
    table(
      [
        'RULE ID',
        'DIRECTION',
        '#',
        'ACTION',
        'PEERS',
        'PORTS',
        ...(policy.staged ? ['WOULD DENY', 'WOULD ALLOW'] : ['ALLOWED', 'DENIED']),
      ],
      rules.map((rule) => [
        String(rule.ruleId),
        rule.direction,
        String(rule.index),
        rule.action,
        rule.peers.length === 0 ? 'any' : rule.peers.map(peerText).join('; '),
        rule.ports.length === 0 ? 'any' : rule.ports.map(portText).join(', '),
        ...counted(rule),
      ]),
      '(no rules)',
    ),
    '',
    nodes.answered.length + nodes.notAnswering.length === 0
      ? 'counters: no registered nodes'
      : `counters (packets/bytes) from ${nodes.answered.length} node(s)` +
          (nodes.answered.length > 0 ? `: ${nodes.answered.join(', ')}` : '') +
          (nodes.notAnswering.length > 0
            ? `; not answering: ${nodes.notAnswering.join(', ')}`
            : ''),
  );
  return lines.join('\n');
}

// ---- formatting -----------------------------------------------------------------------------

/** Kubernetes' own selector syntax: `a=b, c in (d,e), f notin (g), h, !i`; `(everything)`. */
export function selectorText(selector: LabelSelector): string {
  const parts = [
    ...Object.entries(selector.matchLabels).map(([key, value]) => `${key}=${value}`),
    ...selector.matchExpressions.map((e) =>
      e.operator === 'Exists'
        ? e.key
        : e.operator === 'DoesNotExist'
          ? `!${e.key}`
          : `${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${e.values.join(',')})`,
    ),
  ];
  return parts.length === 0 ? '(everything)' : parts.join(', ');
}

export function peerText(peer: PolicyPeer): string {
  if ('cidr' in peer) {
    return peer.except.length === 0 ? peer.cidr : `${peer.cidr} except ${peer.except.join(',')}`;
  }
  return selectorText(peer.selector);
}

export function portText(port: PolicyPort): string {
  if ('name' in port) return `${port.protocol}/${port.name}`;
  return port.port === port.endPort
    ? `${port.protocol}/${port.port}`
    : `${port.protocol}/${port.port}-${port.endPort}`;
}

function sourceText(policy: Pick<PolicyView, 'source'>): string {
  return policy.source.kind === 'kubernetes'
    ? `NetworkPolicy ${policy.source.namespace}/${policy.source.name}`
    : 'strata';
}

const count = (c: Count) => `${c.packets}/${c.bytes}`;
const yesNo = (value: boolean) => (value ? 'yes' : 'no');
