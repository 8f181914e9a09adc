import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One network interface as `ip -j link show` reports it. */
export interface Link {
  readonly ifname: string;
  readonly ifindex: number;
  readonly mtu: number;
  /** Name of the XDP program attached (native or generic), if any. */
  readonly xdpProgram?: string;
  /** `veth`, `vxlan`, ... from `ip -d`; undefined for plain devices. */
  readonly kind?: string;
}

interface IpLink {
  readonly ifname?: unknown;
  readonly ifindex?: unknown;
  readonly mtu?: unknown;
  readonly xdp?: { readonly prog?: { readonly name?: unknown } };
  readonly linkinfo?: { readonly info_kind?: unknown };
}

/**
 * Every interface of a network namespace (default: the current one), through `ip -j -d link
 * show` under `nsenter --net=` (not `ip netns exec`, which remounts /sys). Only what netlink
 * tells iproute2 and the addon has no call for: MTUs and the names of attached XDP programs.
 */
export async function listLinks(netns: string | undefined): Promise<Link[]> {
  const command = ['ip', '-j', '-d', 'link', 'show'];
  const { stdout } =
    netns === undefined
      ? await run(command[0], command.slice(1), { timeout: 10_000 })
      : await run('nsenter', [`--net=${netns}`, ...command], { timeout: 10_000 });
  const parsed = JSON.parse(stdout === '' ? '[]' : stdout) as unknown;
  if (!Array.isArray(parsed)) throw new Error('ip -j link show: not a JSON array');
  return (parsed as IpLink[]).flatMap((link): Link[] => {
    if (typeof link.ifname !== 'string' || typeof link.ifindex !== 'number') return [];
    const program = link.xdp?.prog?.name;
    const kind = link.linkinfo?.info_kind;
    return [
      {
        ifname: link.ifname,
        ifindex: link.ifindex,
        mtu: typeof link.mtu === 'number' ? link.mtu : 0,
        ...(typeof program === 'string' ? { xdpProgram: program } : {}),
        ...(typeof kind === 'string' ? { kind } : {}),
      },
    ];
  });
}

/** Names of the BPF programs in the tc filters at `direction` of `ifname`. */
export async function tcPrograms(
  netns: string | undefined,
  ifname: string,
  direction: 'ingress' | 'egress',
): Promise<string[]> {
  const command = ['tc', '-j', 'filter', 'show', 'dev', ifname, direction];
  const { stdout } =
    netns === undefined
      ? await run(command[0], command.slice(1), { timeout: 10_000 })
      : await run('nsenter', [`--net=${netns}`, ...command], { timeout: 10_000 });
  const filters = JSON.parse(stdout.trim() === '' ? '[]' : stdout) as Array<{
    readonly options?: { readonly prog?: { readonly name?: unknown } };
  }>;
  return filters.flatMap((filter) => {
    const name = filter.options?.prog?.name;
    return typeof name === 'string' ? [name] : [];
  });
}
