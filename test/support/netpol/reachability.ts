/**
 * Reachability truth tables, the shape of the upstream Kubernetes NetworkPolicy e2e tests
 * (test/e2e/network/netpol: namespaces x, y, z; pods a, b, c; ports 80 and 81; TCP and UDP):
 * for every ordered pod pair, is a connection from the first to the second expected to work.
 * Tables are written by hand from the Kubernetes semantics, never computed by Strata.
 */

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_LETTERS = ['a', 'b', 'c'] as const;
export type Namespace = (typeof NAMESPACES)[number];
export type PodLetter = (typeof POD_LETTERS)[number];
/** `x/a`: namespace, then pod. */
export type PodId = `${Namespace}/${PodLetter}`;
export const PODS: readonly PodId[] = NAMESPACES.flatMap((ns) =>
  POD_LETTERS.map((pod): PodId => `${ns}/${pod}`),
);

export const PROTOCOLS = ['TCP', 'UDP'] as const;
export const PORTS = [80, 81] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export type Port = (typeof PORTS)[number];
/** `TCP/80`. */
export type Case = `${Protocol}/${Port}`;
export const CASES: readonly Case[] = PROTOCOLS.flatMap((protocol) =>
  PORTS.map((port): Case => `${protocol}/${port}`),
);

/** A set of pods as upstream's peers name them: a namespace, a pod letter, or one pod. */
export interface PodSet {
  readonly ns?: Namespace;
  readonly pod?: PodLetter;
}

function inSet(id: PodId, set: PodSet): boolean {
  const [ns, pod] = id.split('/');
  return (set.ns === undefined || set.ns === ns) && (set.pod === undefined || set.pod === pod);
}

export function pod(id: PodId): PodSet {
  const [ns, letter] = id.split('/') as [Namespace, PodLetter];
  return { ns, pod: letter };
}

/** Expected reachability of every ordered pair for one (protocol, port). */
export class Reachability {
  private readonly allowed = new Map<string, boolean>();

  constructor(everything: boolean) {
    for (const from of PODS) for (const to of PODS) this.allowed.set(`${from}>${to}`, everything);
  }

  get(from: PodId, to: PodId): boolean {
    return this.allowed.get(`${from}>${to}`) === true;
  }

  /** Every pair from `from` to `to` (sets) gets `allowed`. */
  expect(from: PodSet, to: PodSet, allowed: boolean): this {
    for (const source of PODS.filter((id) => inSet(id, from))) {
      for (const destination of PODS.filter((id) => inSet(id, to))) {
        this.allowed.set(`${source}>${destination}`, allowed);
      }
    }
    return this;
  }

  /** Everything into `to`. */
  ingress(to: PodSet, allowed: boolean): this {
    return this.expect({}, to, allowed);
  }

  /** Everything out of `from`. */
  egress(from: PodSet, allowed: boolean): this {
    return this.expect(from, {}, allowed);
  }

  /**
   * A pod reaches itself whatever the policies say: the packet never leaves its network
   * namespace (upstream's `AllowLoopback`). Called last, as upstream does.
   */
  loopback(): this {
    for (const id of PODS) this.allowed.set(`${id}>${id}`, true);
    return this;
  }

  copy(): Reachability {
    const copy = new Reachability(false);
    for (const [key, value] of this.allowed) copy.allowed.set(key, value);
    return copy;
  }
}

/** The expected table per case. */
export type Expected = Readonly<Record<Case, Reachability>>;

/** The same table for every protocol and port. */
export function everyCase(table: Reachability): Expected {
  return Object.fromEntries(CASES.map((c) => [c, table.copy().loopback()])) as Record<
    Case,
    Reachability
  >;
}

/**
 * A table per case: `build(case)` gives the table for it (loopback added after). For a policy
 * that treats protocols or ports differently.
 */
export function perCase(build: (c: { protocol: Protocol; port: Port }) => Reachability): Expected {
  return Object.fromEntries(
    CASES.map((c) => {
      const [protocol, port] = c.split('/');
      return [c, build({ protocol: protocol as Protocol, port: Number(port) as Port }).loopback()];
    }),
  ) as Record<Case, Reachability>;
}

/** What a probe round saw: `from>to` per case, true when the right pod answered. */
export type Observed = Readonly<Record<Case, ReadonlyMap<string, ProbeOutcome>>>;

export interface ProbeOutcome {
  /** `answered` by the pod aimed at, `timeout` (dropped), or what else happened. */
  readonly outcome: string;
  readonly ms: number;
}

export function observedAllowed(outcome: ProbeOutcome): boolean | undefined {
  if (outcome.outcome === 'answered') return true;
  if (outcome.outcome === 'timeout') return false;
  return undefined;
}

/** Every pair whose observation differs from the table (an error differs from both). */
export function mismatches(
  expected: Expected,
  observed: Observed,
): { case: Case; from: PodId; to: PodId; expected: boolean; observed: string }[] {
  const wrong: { case: Case; from: PodId; to: PodId; expected: boolean; observed: string }[] = [];
  for (const c of CASES) {
    for (const from of PODS) {
      for (const to of PODS) {
        const seen = observed[c].get(`${from}>${to}`);
        const want = expected[c].get(from, to);
        if (seen === undefined || observedAllowed(seen) !== want) {
          wrong.push({ case: c, from, to, expected: want, observed: seen?.outcome ?? 'missing' });
        }
      }
    }
  }
  return wrong;
}

/**
 * Expected and observed side by side, upstream's layout: a row per client, a column per server,
 * `.` allowed, `X` denied; in the observed table a wrong cell is `!` (allowed, should not be),
 * `#` (denied, should not be) or `?` (neither: an error or no probe).
 */
export function formatTables(
  expected: Expected,
  observed: Observed,
  only?: readonly Case[],
): string {
  const header = `      ${PODS.map((id) => id.padEnd(4)).join('')}`;
  const out: string[] = [];
  for (const c of only ?? CASES) {
    out.push(`${c} expected${' '.repeat(header.length - 11 - c.length)}| observed`);
    out.push(`${header}| ${header.trimStart()}`);
    for (const from of PODS) {
      const want = PODS.map((to) => (expected[c].get(from, to) ? '.' : 'X').padEnd(4)).join('');
      const seen = PODS.map((to) => {
        const outcome = observed[c].get(`${from}>${to}`);
        const allowed = outcome === undefined ? undefined : observedAllowed(outcome);
        const mark =
          allowed === undefined
            ? '?'
            : allowed === expected[c].get(from, to)
              ? allowed
                ? '.'
                : 'X'
              : allowed
                ? '!'
                : '#';
        return mark.padEnd(4);
      }).join('');
      out.push(`${from.padEnd(6)}${want}| ${seen}`);
    }
    out.push('');
  }
  return out.join('\n');
}
