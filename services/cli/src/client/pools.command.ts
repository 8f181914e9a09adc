import { IPAM, type PoolView } from '@strata/bus';
import { Option, type Command } from 'commander';
import { CliError } from '../errors';
import { checkCidr, checkName, clientCommand, print, table, type ClientOptions } from './options';
import { withSession } from './session';

/** `strata pools create|list|show|delete`: the IPAM service's address pools. */
export function registerPoolsCommands(program: Command): void {
  const pools = program.command('pools').description('global address pools (IPAM)');

  clientCommand(pools, 'create', 'create an address pool over a CIDR')
    .argument('<name>', 'the pool name (letters, digits, _ : = @ -)')
    .requiredOption('--cidr <cidr>', 'the pool prefix, e.g. 10.20.0.0/16')
    .addOption(
      new Option('--kind <kind>', 'pod addresses or service VIPs')
        .choices(['pod', 'vip'])
        .default('pod'),
    )
    .option('--segment <name>', 'the segment the pool serves')
    .option('--shards <count>', 'allocation shards (1-16384; default: sized to the pool)')
    .action(
      async (
        name: string,
        options: ClientOptions & {
          cidr: string;
          kind: 'pod' | 'vip';
          segment?: string;
          shards?: string;
        },
      ) => {
        const request = {
          poolId: checkName(name, 'pool name'),
          kind: options.kind,
          cidr: checkCidr(options.cidr, '--cidr'),
          ...(options.segment === undefined
            ? {}
            : { segmentId: checkName(options.segment, '--segment') }),
          ...(options.shards === undefined ? {} : { shardCount: shardCount(options.shards) }),
        };
        const pool = await withSession(options, (session) =>
          session.execute(IPAM.createPool, request),
        );
        print(options, pool, (view) => poolTable([view]));
      },
    );

  clientCommand(pools, 'list', 'list every pool').action(async (options: ClientOptions) => {
    const reply = await withSession(options, (session) => session.execute(IPAM.listPools, {}));
    print(options, reply, ({ pools: views }) => poolTable(views));
  });

  clientCommand(pools, 'show', 'show one pool')
    .argument('<name>', 'the pool name')
    .action(async (name: string, options: ClientOptions) => {
      const poolId = checkName(name, 'pool name');
      const pool = await withSession(options, (session) =>
        session.execute(IPAM.getPool, { poolId }),
      );
      print(options, pool, (view) => poolTable([view]));
    });

  clientCommand(pools, 'delete', 'delete a pool none of whose addresses is allocated')
    .argument('<name>', 'the pool name')
    .action(async (name: string, options: ClientOptions) => {
      const poolId = checkName(name, 'pool name');
      const reply = await withSession(options, (session) =>
        session.execute(IPAM.deletePool, { poolId }),
      );
      print(options, reply, () => `deleted pool ${poolId}`);
    });
}

function poolTable(pools: readonly PoolView[]): string {
  return table(
    ['NAME', 'KIND', 'CIDR', 'SEGMENT', 'SHARDS', 'RESERVED'],
    pools.map((pool) => [
      pool.poolId,
      pool.kind,
      pool.cidr,
      pool.segmentId === '' ? '-' : pool.segmentId,
      String(pool.shardCount),
      pool.reserved
        .map(({ first, last }) => (first === last ? first : `${first}-${last}`))
        .join(', '),
    ]),
    'no pools yet (create one with `strata pools create <name> --cidr <cidr>`)',
  );
}

function shardCount(value: string): number {
  const count = Number(value);
  if (!/^[0-9]+$/.test(value) || count < 1 || count > 16_384) {
    throw new CliError(
      'InvalidArgument',
      `--shards must be an integer from 1 to 16384, got ${value}`,
    );
  }
  return count;
}
