import { Controller, Inject } from '@nestjs/common';
import { commandMeta, CONFIG, type ClusterRefRequest, type CommandRequest } from '@strata/bus';
import { clusterDecider, clusterStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.cluster.delete`, `DELETE /v1/clusters/:clusterId`: stops federating with a
 * cluster. Final (ids are not reused); removing a removed cluster again changes nothing.
 */
@Controller()
export class DeleteClusterHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
  ) {}

  @CommandRoute(CONFIG.deleteCluster, {
    method: 'DELETE',
    path: '/v1/clusters/:clusterId',
    summary: 'Remove a federated cluster',
  })
  async handle(
    @CommandInput() request: CommandRequest<ClusterRefRequest>,
  ): Promise<{ clusterId: string }> {
    const { clusterId } = request.data;
    await this.runner.run(
      clusterDecider,
      clusterStream(clusterId),
      { type: 'RemoveCluster', data: { clusterId } },
      commandMeta(request),
    );
    await this.readModel.catchUp();
    return { clusterId };
  }
}
