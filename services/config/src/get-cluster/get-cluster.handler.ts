import { Controller, Inject } from '@nestjs/common';
import { CONFIG, type ClusterRefRequest, type ClusterView, type CommandRequest } from '@strata/bus';
import { ConfigReadModel } from '../read-model/config-read-model';
import { clusterView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/** `strata.config.cluster.get`, `GET /v1/clusters/:clusterId`: one cluster, or NotFound. */
@Controller()
export class GetClusterHandler {
  constructor(@Inject(ConfigReadModel) private readonly readModel: ConfigReadModel) {}

  @CommandRoute(CONFIG.getCluster, {
    method: 'GET',
    path: '/v1/clusters/:clusterId',
    summary: 'Get a federated cluster',
  })
  async handle(@CommandInput() request: CommandRequest<ClusterRefRequest>): Promise<ClusterView> {
    return clusterView(await this.readModel.cluster(request.data.clusterId));
  }
}
