import { Controller, Inject } from '@nestjs/common';
import { commandMeta, CONFIG, type CommandRequest, type EndpointRefRequest } from '@strata/bus';
import { endpointDecider, endpointStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.endpoint.delete`, `DELETE /v1/endpoints/:uid`: final (uids are not reused);
 * deleting a deleted endpoint again changes nothing.
 */
@Controller()
export class DeleteEndpointHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
  ) {}

  @CommandRoute(CONFIG.deleteEndpoint, {
    method: 'DELETE',
    path: '/v1/endpoints/:uid',
    summary: 'Delete an endpoint',
  })
  async handle(
    @CommandInput() request: CommandRequest<EndpointRefRequest>,
  ): Promise<{ uid: string }> {
    const { uid } = request.data;
    await this.runner.run(
      endpointDecider,
      endpointStream(uid),
      { type: 'DeleteEndpoint', data: { uid } },
      commandMeta(request),
    );
    await this.readModel.catchUp();
    return { uid };
  }
}
