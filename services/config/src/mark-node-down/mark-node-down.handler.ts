import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  type CommandRequest,
  type MarkNodeDownRequest,
  type NodeView,
} from '@strata/bus';
import { nodeDecider, nodeStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { nodeView } from '../read-model/views';
import { now } from '../shared/clock';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.node.mark-down`, `POST /v1/nodes/:name/mark-down`: what the liveness watchdog
 * sends. The node goes down only if no heartbeat was recorded within `timeoutMs` of `now`
 * (default: the service's clock); otherwise nothing changes. The reply is the node either way.
 */
@Controller()
export class MarkNodeDownHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
  ) {}

  @CommandRoute(CONFIG.markNodeDown, {
    method: 'POST',
    path: '/v1/nodes/:name/mark-down',
    summary: 'Mark a node down if it has been silent for timeoutMs (the watchdog)',
  })
  async handle(@CommandInput() request: CommandRequest<MarkNodeDownRequest>): Promise<NodeView> {
    const { name, timeoutMs } = request.data;
    await this.runner.run(
      nodeDecider,
      nodeStream(name),
      { type: 'MarkNodeDown', data: { name, timeoutMs, now: request.data.now ?? now() } },
      commandMeta(request),
    );
    return nodeView(await this.readModel.node(name));
  }
}
