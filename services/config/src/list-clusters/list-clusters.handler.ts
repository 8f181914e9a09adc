import { Controller, Inject } from '@nestjs/common';
import { CONFIG, type ClusterView, type CommandRequest, type EmptyRequest } from '@strata/bus';
import { ConfigReadModel } from '../read-model/config-read-model';
import { clusterView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/** `strata.config.cluster.list`, `GET /v1/clusters`: every federated cluster, by id. */
@Controller()
export class ListClustersHandler {
  constructor(@Inject(ConfigReadModel) private readonly readModel: ConfigReadModel) {}

  @CommandRoute(CONFIG.listClusters, {
    method: 'GET',
    path: '/v1/clusters',
    summary: 'List federated clusters',
  })
  async handle(
    @CommandInput() _request: CommandRequest<EmptyRequest>,
  ): Promise<{ clusters: ClusterView[] }> {
    return { clusters: (await this.readModel.liveClusters()).map(clusterView) };
  }
}
