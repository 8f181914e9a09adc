import { Controller, Inject } from '@nestjs/common';
import {
  CONFIG,
  type CommandRequest,
  type EndpointRefRequest,
  type EndpointView,
} from '@strata/bus';
import { ConfigReadModel } from '../read-model/config-read-model';
import { endpointView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/** `strata.config.endpoint.get`, `GET /v1/endpoints/:uid`: one endpoint, or NotFound. */
@Controller()
export class GetEndpointHandler {
  constructor(@Inject(ConfigReadModel) private readonly readModel: ConfigReadModel) {}

  @CommandRoute(CONFIG.getEndpoint, {
    method: 'GET',
    path: '/v1/endpoints/:uid',
    summary: 'Get an endpoint',
  })
  async handle(@CommandInput() request: CommandRequest<EndpointRefRequest>): Promise<EndpointView> {
    return endpointView(await this.readModel.endpoint(request.data.uid));
  }
}
