import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  IPAM,
  type AddressHistory,
  type AddressHistoryRequest,
  type CommandRequest,
} from '@strata/bus';
import { formatIpv4, parseIpv4 } from '@strata/domain';
import { AddressHistoryProjection } from './address-history.projection';

/** `strata.ipam.address.history` (`strata ipam history <ip>`): who held an address, and when. */
@Controller()
export class AddressHistoryHandler {
  constructor(
    @Inject(AddressHistoryProjection) private readonly history: AddressHistoryProjection,
  ) {}

  @CommandHandler(IPAM.addressHistory)
  async handle(
    @CommandBody(IPAM.addressHistory) request: CommandRequest<AddressHistoryRequest>,
  ): Promise<AddressHistory> {
    const address = formatIpv4(parseIpv4(request.data.address));
    return { address, holders: await this.history.holdersOf(address) };
  }
}
