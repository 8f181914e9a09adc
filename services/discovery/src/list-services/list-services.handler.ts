import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  DISCOVERY,
  type CommandRequest,
  type ListResolvedServicesRequest,
  type ResolvedService,
} from '@strata/bus';
import { DiscoveryReadModel } from '../read-model/discovery-read-model';
import { resolvedServiceView } from '../read-model/views';

/** `strata.discovery.service.list`: every service with its backends now, by id. */
@Controller()
export class ListServicesHandler {
  constructor(@Inject(DiscoveryReadModel) private readonly readModel: DiscoveryReadModel) {}

  @CommandHandler(DISCOVERY.listServices)
  async handle(
    @CommandBody(DISCOVERY.listServices) _request: CommandRequest<ListResolvedServicesRequest>,
  ): Promise<{ services: ResolvedService[] }> {
    return {
      services: (await this.readModel.resolveAll()).map((resolution) =>
        resolvedServiceView(resolution),
      ),
    };
  }
}
