import { Controller, Inject } from '@nestjs/common';
import { CONFIG, type CommandRequest, type NodeRefRequest, type NodeView } from '@strata/bus';
import { ConfigReadModel } from '../read-model/config-read-model';
import { nodeView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/** `strata.config.node.get`, `GET /v1/nodes/:name`: one node, or NotFound. */
@Controller()
export class GetNodeHandler {
  constructor(@Inject(ConfigReadModel) private readonly readModel: ConfigReadModel) {}

  @CommandRoute(CONFIG.getNode, { method: 'GET', path: '/v1/nodes/:name', summary: 'Get a node' })
  async handle(@CommandInput() request: CommandRequest<NodeRefRequest>): Promise<NodeView> {
    return nodeView(await this.readModel.node(request.data.name));
  }
}
