import { Controller, Inject } from '@nestjs/common';
import {
  CONFIG,
  type CommandRequest,
  type EndpointView,
  type ListEndpointsRequest,
} from '@strata/bus';
import { ConfigReadModel } from '../read-model/config-read-model';
import { endpointView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/** `strata.config.endpoint.list`, `GET /v1/endpoints[?segmentId=]`: endpoints, by uid. */
@Controller()
export class ListEndpointsHandler {
  constructor(@Inject(ConfigReadModel) private readonly readModel: ConfigReadModel) {}

  @CommandRoute(CONFIG.listEndpoints, {
    method: 'GET',
    path: '/v1/endpoints',
    summary: 'List endpoints, of one segment when segmentId is given',
  })
  async handle(
    @CommandInput() request: CommandRequest<ListEndpointsRequest>,
  ): Promise<{ endpoints: EndpointView[] }> {
    const endpoints = await this.readModel.activeEndpoints(request.data.segmentId);
    return { endpoints: endpoints.map(endpointView) };
  }
}
