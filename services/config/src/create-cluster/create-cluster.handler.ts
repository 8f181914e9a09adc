import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  type ClusterView,
  type CommandRequest,
  type CreateClusterRequest,
} from '@strata/bus';
import { clusterDecider, clusterStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { clusterView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.cluster.create`, `POST /v1/clusters`: another cluster to federate with,
 * reached over a NATS gateway or leaf link at a URL without credentials. It starts pending;
 * the federation service reports the link's state. Idempotent by id.
 */
@Controller()
export class CreateClusterHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
  ) {}

  @CommandRoute(CONFIG.createCluster, {
    method: 'POST',
    path: '/v1/clusters',
    status: 201,
    summary: 'Register a cluster to federate with',
  })
  async handle(
    @CommandInput() request: CommandRequest<CreateClusterRequest>,
  ): Promise<ClusterView> {
    const { clusterId, name, url, link } = request.data;
    await this.runner.run(
      clusterDecider,
      clusterStream(clusterId),
      { type: 'RegisterCluster', data: { clusterId, name, url, link } },
      commandMeta(request),
    );
    return clusterView(await this.readModel.cluster(clusterId));
  }
}
