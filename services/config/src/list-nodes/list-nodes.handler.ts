import { Controller, Inject } from '@nestjs/common';
import { CONFIG, type CommandRequest, type EmptyRequest, type NodeView } from '@strata/bus';
import { ConfigReadModel } from '../read-model/config-read-model';
import { nodeView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/** `strata.config.node.list`, `GET /v1/nodes`: every registered node, ready or down, by name. */
@Controller()
export class ListNodesHandler {
  constructor(@Inject(ConfigReadModel) private readonly readModel: ConfigReadModel) {}

  @CommandRoute(CONFIG.listNodes, { method: 'GET', path: '/v1/nodes', summary: 'List nodes' })
  async handle(
    @CommandInput() _request: CommandRequest<EmptyRequest>,
  ): Promise<{ nodes: NodeView[] }> {
    return { nodes: (await this.readModel.registeredNodes()).map(nodeView) };
  }
}
