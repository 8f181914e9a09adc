import { IPAM, type AddressHistory } from '@strata/bus';
import type { Command } from 'commander';
import { checkIp, checkName, clientCommand, print, table, type ClientOptions } from './options';
import { withSession } from './session';

type OwnerOptions = ClientOptions & { pool: string; owner: string; address?: string };

/** `strata ipam allocate|release|history`: pod addresses, and who held an address when. */
export function registerIpamCommands(program: Command): void {
  const ipam = program.command('ipam').description('address allocation (IPAM)');

  clientCommand(ipam, 'allocate', "allocate an address from a pool to an owner (a pod's uid)")
    .requiredOption('--pool <name>', 'the pool')
    .requiredOption('--owner <id>', 'who gets the address')
    .option('--address <ip>', 'this address rather than the next free one')
    .action(async (options: OwnerOptions) => {
      const request = ownerRequest(options);
      const allocation = await withSession(options, (session) =>
        session.execute(IPAM.allocateAddress, request),
      );
      print(options, allocation, (a) =>
        table(
          ['ADDRESS', 'POOL', 'OWNER', 'SHARD'],
          [[a.address, a.poolId, a.owner, String(a.shard)]],
          '',
        ),
      );
    });

  clientCommand(ipam, 'release', "release an owner's address back to its pool")
    .requiredOption('--pool <name>', 'the pool')
    .requiredOption('--owner <id>', 'who holds the address')
    .option('--address <ip>', 'only if the owner holds this address')
    .action(async (options: OwnerOptions) => {
      const request = ownerRequest(options);
      const release = await withSession(options, (session) =>
        session.execute(IPAM.releaseAddress, request),
      );
      print(options, release, (r) =>
        table(
          ['POOL', 'OWNER', 'RELEASED'],
          [[r.poolId, r.owner, r.released ?? '- (held none)']],
          '',
        ),
      );
    });

  clientCommand(ipam, 'history', 'who held an address, and when')
    .argument('<ip>', 'the address, e.g. 10.20.0.5')
    .action(async (ip: string, options: ClientOptions) => {
      const address = checkIp(ip, 'address');
      const history = await withSession(options, (session) =>
        session.execute(IPAM.addressHistory, { address }),
      );
      print(options, history, historyTable);
    });
}

function ownerRequest(options: OwnerOptions) {
  return {
    poolId: checkName(options.pool, '--pool'),
    owner: checkName(options.owner, '--owner'),
    ...(options.address === undefined ? {} : { address: checkIp(options.address, '--address') }),
  };
}

function historyTable(history: AddressHistory): string {
  return table(
    ['ADDRESS', 'POOL', 'OWNER', 'FROM', 'TO'],
    history.holders.map((holder) => [
      history.address,
      holder.poolId,
      holder.owner,
      holder.from,
      holder.to ?? '(holds it)',
    ]),
    `${history.address}: never allocated`,
  );
}
