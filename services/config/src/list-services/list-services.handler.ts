import { Controller, Inject } from '@nestjs/common';
import { CONFIG, type CommandRequest, type EmptyRequest, type ServiceView } from '@strata/bus';
import { ConfigReadModel } from '../read-model/config-read-model';
import { serviceView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/** `strata.config.service.list`, `GET /v1/services`: every service, by id. */
@Controller()
export class ListServicesHandler {
  constructor(@Inject(ConfigReadModel) private readonly readModel: ConfigReadModel) {}

  @CommandRoute(CONFIG.listServices, {
    method: 'GET',
    path: '/v1/services',
    summary: 'List services',
  })
  async handle(
    @CommandInput() _request: CommandRequest<EmptyRequest>,
  ): Promise<{ services: ServiceView[] }> {
    return { services: (await this.readModel.activeServices()).map(serviceView) };
  }
}
