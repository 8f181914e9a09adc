import { Controller, Inject } from '@nestjs/common';
import { commandMeta, CONFIG, type CommandRequest, type NodeRefRequest } from '@strata/bus';
import { DomainError, nodeDecider, nodeStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.node.delete`, `DELETE /v1/nodes/:name`: deregisters a node no endpoint is on
 * (InvalidState otherwise, checked against the read model). Idempotent: deregistering again
 * changes nothing. The host may register again under the same name.
 */
@Controller()
export class DeleteNodeHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
  ) {}

  @CommandRoute(CONFIG.deleteNode, {
    method: 'DELETE',
    path: '/v1/nodes/:name',
    summary: 'Deregister a node without endpoints',
  })
  async handle(@CommandInput() request: CommandRequest<NodeRefRequest>): Promise<{ name: string }> {
    const { name } = request.data;
    const endpoints = await this.readModel.endpointsOnNode(name);
    if (endpoints.length > 0) {
      throw new DomainError(
        'InvalidState',
        `node ${name} still has ${endpoints.length} endpoint(s), e.g. ${endpoints[0].uid}; delete or move them first`,
      );
    }
    await this.runner.run(
      nodeDecider,
      nodeStream(name),
      { type: 'DeregisterNode', data: { name } },
      commandMeta(request),
    );
    await this.readModel.catchUp();
    return { name };
  }
}
