import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  type CommandRequest,
  type HeartbeatRequest,
  type NodeView,
} from '@strata/bus';
import { nodeDecider, nodeStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { NodeLiveness } from '../node-liveness/node-liveness';
import { ConfigReadModel } from '../read-model/config-read-model';
import { nodeView } from '../read-model/views';
import { Clock } from '../shared/clock';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.node.heartbeat`, `POST /v1/nodes/:name/heartbeat`: an agent is alive (at
 * `at`, default now). Recorded at most once per the service's heartbeat resolution
 * (`--heartbeat-resolution-ms`); brings a down node back. This replica also remembers that it
 * heard from the node (see ../node-liveness), recorded or not.
 */
@Controller()
export class RecordHeartbeatHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(NodeLiveness) private readonly liveness: NodeLiveness,
  ) {}

  @CommandRoute(CONFIG.heartbeat, {
    method: 'POST',
    path: '/v1/nodes/:name/heartbeat',
    summary: "Record a node's heartbeat",
  })
  async handle(@CommandInput() request: CommandRequest<HeartbeatRequest>): Promise<NodeView> {
    const { name, at = this.clock.now() } = request.data;
    await this.runner.run(
      nodeDecider,
      nodeStream(name),
      {
        type: 'RecordHeartbeat',
        data: { name, at, resolutionMs: this.liveness.settings.resolutionMs },
      },
      commandMeta(request),
    );
    this.liveness.heardFrom(name);
    return nodeView(await this.readModel.node(name));
  }
}
