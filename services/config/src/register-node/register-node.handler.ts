import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  type CommandRequest,
  type NodeView,
  type RegisterNodeRequest,
} from '@strata/bus';
import { nodeDecider, nodeStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { nodeView } from '../read-model/views';
import { now } from '../shared/clock';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.node.register`, `POST /v1/nodes`: a node (its agent) with its VTEP address
 * and MAC. Registering again with the same VTEP changes nothing; with a new one (a rebuilt
 * host) it records the new values; a down node that registers is ready again.
 */
@Controller()
export class RegisterNodeHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
  ) {}

  @CommandRoute(CONFIG.registerNode, {
    method: 'POST',
    path: '/v1/nodes',
    status: 201,
    summary: 'Register a node with its VTEP address and MAC',
  })
  async handle(@CommandInput() request: CommandRequest<RegisterNodeRequest>): Promise<NodeView> {
    const { name, vtepAddress, vtepMac, at = now() } = request.data;
    await this.runner.run(
      nodeDecider,
      nodeStream(name),
      { type: 'RegisterNode', data: { name, vtepAddress, vtepMac, at } },
      commandMeta(request),
    );
    return nodeView(await this.readModel.node(name));
  }
}
