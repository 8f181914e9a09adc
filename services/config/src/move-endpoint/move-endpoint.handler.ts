import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  type CommandRequest,
  type EndpointView,
  type MoveEndpointRequest,
} from '@strata/bus';
import { endpointDecider, endpointStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { endpointView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.endpoint.move`, `POST /v1/endpoints/:uid/move`: a pod moves to another node
 * (live migration); an external endpoint is on no node and cannot (InvalidState).
 */
@Controller()
export class MoveEndpointHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
  ) {}

  @CommandRoute(CONFIG.moveEndpoint, {
    method: 'POST',
    path: '/v1/endpoints/:uid/move',
    summary: 'Move a pod endpoint to another node',
  })
  async handle(
    @CommandInput() request: CommandRequest<MoveEndpointRequest>,
  ): Promise<EndpointView> {
    const { uid, node } = request.data;
    await this.runner.run(
      endpointDecider,
      endpointStream(uid),
      { type: 'MoveEndpoint', data: { uid, node } },
      commandMeta(request),
    );
    return endpointView(await this.readModel.endpoint(uid));
  }
}
