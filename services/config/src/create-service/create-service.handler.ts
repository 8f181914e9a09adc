import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  IPAM,
  type CommandRequest,
  type CreateServiceRequest,
  type ServiceView,
} from '@strata/bus';
import { serviceDecider, serviceStream, type CreateService } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { serviceView } from '../read-model/views';
import { IpamClient } from '../shared/ipam-client';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * Stands in for the VIP while a request is checked before IPAM is asked for the real one
 * (TEST-NET-1, RFC 5737: never a real VIP, and only ever seen by a decision that is discarded).
 */
const PLACEHOLDER_VIP = '192.0.2.1';

/**
 * `strata.config.service.create`, `POST /v1/services`: a service with ports and either a label
 * selector or a list of backend endpoints, and a VIP from an IPAM vip pool (`vipPool`, default
 * the service's; `vip` asks for that address exactly). The request is decided against an empty
 * service first, so one that can never succeed is rejected before any VIP is allocated.
 * Idempotent: the same request again returns the service and allocates nothing.
 */
@Controller()
export class CreateServiceHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(IpamClient) private readonly ipam: IpamClient,
  ) {}

  @CommandRoute(CONFIG.createService, {
    method: 'POST',
    path: '/v1/services',
    status: 201,
    summary: 'Create a service (VIP from IPAM) with ports and a selector or backends',
  })
  async handle(
    @CommandInput() request: CommandRequest<CreateServiceRequest>,
  ): Promise<ServiceView> {
    const { serviceId, name, vip, ports, selector, backends } = request.data;
    const stream = serviceStream(serviceId);
    const meta = commandMeta(request);
    const command = (withVip: string): CreateService => ({
      type: 'CreateService',
      data: {
        serviceId,
        name,
        vip: withVip,
        ports,
        ...(selector === undefined ? {} : { selector }),
        ...(backends === undefined ? {} : { backends }),
      },
    });
    const { state } = await this.runner.load(serviceDecider, stream, { fresh: true });
    if (state.status !== 'empty') {
      // A repeat (nothing to append) or AlreadyExists, decided by the aggregate itself.
      const known = state.status === 'active' ? state.vip : PLACEHOLDER_VIP;
      await this.runner.run(serviceDecider, stream, command(vip ?? known), meta);
      return serviceView(await this.readModel.service(serviceId));
    }
    serviceDecider.decide(command(vip ?? PLACEHOLDER_VIP), state);
    const allocation = await this.ipam.execute(
      IPAM.allocateVip,
      {
        poolId: request.data.vipPool ?? this.ipam.defaultVipPool,
        serviceId,
        ...(vip === undefined ? {} : { address: vip }),
      },
      request,
      'vip',
    );
    await this.runner.run(serviceDecider, stream, command(allocation.address), meta);
    return serviceView(await this.readModel.service(serviceId));
  }
}
