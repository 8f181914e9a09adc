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
import { NodeLiveness } from '../node-liveness/node-liveness';
import { nodeView } from '../read-model/views';
import { Clock } from '../shared/clock';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.node.register`, `POST /v1/nodes`: a node (its agent) with its VTEP address
 * and MAC. Registering again with the same VTEP changes nothing; with a new one (a rebuilt
 * host) it records the new values; a down node that registers is ready again. Registration
 * counts as a heartbeat, in the log and for this replica's watchdog.
 */
@Controller()
export class RegisterNodeHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(NodeLiveness) private readonly liveness: NodeLiveness,
  ) {}

  @CommandRoute(CONFIG.registerNode, {
    method: 'POST',
    path: '/v1/nodes',
    status: 201,
    summary: 'Register a node with its VTEP address and MAC',
  })
  async handle(@CommandInput() request: CommandRequest<RegisterNodeRequest>): Promise<NodeView> {
    const { name, vtepAddress, vtepMac, at = this.clock.now() } = request.data;
    await this.runner.run(
      nodeDecider,
      nodeStream(name),
      { type: 'RegisterNode', data: { name, vtepAddress, vtepMac, at } },
      commandMeta(request),
    );
    this.liveness.heardFrom(name);
    return nodeView(await this.readModel.node(name));
  }
}
