import { Controller, Inject } from '@nestjs/common';
import { CONFIG, type CommandRequest, type ServiceRefRequest, type ServiceView } from '@strata/bus';
import { ConfigReadModel } from '../read-model/config-read-model';
import { serviceView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/** `strata.config.service.get`, `GET /v1/services/:serviceId`: one service, or NotFound. */
@Controller()
export class GetServiceHandler {
  constructor(@Inject(ConfigReadModel) private readonly readModel: ConfigReadModel) {}

  @CommandRoute(CONFIG.getService, {
    method: 'GET',
    path: '/v1/services/:serviceId',
    summary: 'Get a service',
  })
  async handle(@CommandInput() request: CommandRequest<ServiceRefRequest>): Promise<ServiceView> {
    return serviceView(await this.readModel.service(request.data.serviceId));
  }
}
