import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  IPAM,
  type CommandRequest,
  type ServiceRefRequest,
} from '@strata/bus';
import {
  cidrContains,
  parseCidr,
  parseIpv4,
  serviceDecider,
  serviceStream,
  type ServiceCreated,
} from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { IpamClient } from '../shared/ipam-client';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.service.delete`, `DELETE /v1/services/:serviceId`: deletes the service, then
 * gives its VIP back to the IPAM vip pool that holds it. Idempotent: deleting it again repeats
 * only the (idempotent) release, which also finishes a delete whose release failed.
 */
@Controller()
export class DeleteServiceHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(IpamClient) private readonly ipam: IpamClient,
  ) {}

  @CommandRoute(CONFIG.deleteService, {
    method: 'DELETE',
    path: '/v1/services/:serviceId',
    summary: 'Delete a service; its VIP goes back to IPAM',
  })
  async handle(
    @CommandInput() request: CommandRequest<ServiceRefRequest>,
  ): Promise<{ serviceId: string }> {
    const { serviceId } = request.data;
    const stream = serviceStream(serviceId);
    await this.runner.run(
      serviceDecider,
      stream,
      { type: 'DeleteService', data: { serviceId } },
      commandMeta(request),
    );
    // The VIP is fixed at creation: the stream's first event has it, even once deleted.
    const [created] = await this.runner.store.readStream(stream, { maxCount: 1 });
    const vip = (created.data as ServiceCreated['data']).vip;
    const address = parseIpv4(vip);
    const { pools } = await this.ipam.execute(IPAM.listPools, {}, request, 'vip-pools');
    const pool = pools.find((p) => p.kind === 'vip' && cidrContains(parseCidr(p.cidr), address));
    if (pool !== undefined) {
      await this.ipam.execute(
        IPAM.releaseVip,
        { poolId: pool.poolId, serviceId, address: vip },
        request,
        'vip-release',
      );
    }
    await this.readModel.catchUp();
    return { serviceId };
  }
}
