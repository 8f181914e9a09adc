import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  type CommandRequest,
  type MarkNodeDownRequest,
  type NodeView,
} from '@strata/bus';
import { nodeDecider, nodeStream, type MarkNodeDown } from '@strata/domain';
import { DeciderRunner, type CommandMeta } from '@strata/eventstore';
import { NodeLiveness } from '../node-liveness/node-liveness';
import { ConfigReadModel } from '../read-model/config-read-model';
import { nodeView } from '../read-model/views';
import { Clock } from '../shared/clock';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.node.mark-down`, `POST /v1/nodes/:name/mark-down`: what the liveness watchdog
 * decides (it runs `markNodeDown` below in-process; this route lets an operator or an outside
 * checker do the same). The node goes down only if no heartbeat was recorded within
 * `timeoutMs` of `now` (default: the service's clock); `timeoutMs` must exceed the service's
 * heartbeat resolution. Otherwise nothing changes. The reply is the node either way.
 */
@Controller()
export class MarkNodeDownHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(NodeLiveness) private readonly liveness: NodeLiveness,
  ) {}

  @CommandRoute(CONFIG.markNodeDown, {
    method: 'POST',
    path: '/v1/nodes/:name/mark-down',
    summary: 'Mark a node down if it has been silent for timeoutMs (the watchdog)',
  })
  async handle(@CommandInput() request: CommandRequest<MarkNodeDownRequest>): Promise<NodeView> {
    const { name, timeoutMs } = request.data;
    await markNodeDown(
      this.runner,
      {
        name,
        timeoutMs,
        now: request.data.now ?? this.clock.now(),
        resolutionMs: this.liveness.settings.resolutionMs,
      },
      commandMeta(request),
    );
    return nodeView(await this.readModel.node(name));
  }
}

/** MarkNodeDown through the decider and the store: the one path of the route and the watchdog. */
export function markNodeDown(runner: DeciderRunner, data: MarkNodeDown['data'], meta: CommandMeta) {
  return runner.run(nodeDecider, nodeStream(data.name), { type: 'MarkNodeDown', data }, meta);
}
