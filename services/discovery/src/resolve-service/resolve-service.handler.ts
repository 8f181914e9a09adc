import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  DISCOVERY,
  type CommandRequest,
  type ResolvedService,
  type ResolveServiceRequest,
} from '@strata/bus';
import { DomainError } from '@strata/domain';
import { DiscoveryReadModel } from '../read-model/discovery-read-model';
import { resolvedServiceView } from '../read-model/views';

/**
 * `strata.discovery.service.resolve`: a service's backends now, by service id or by VIP
 * (exactly one), optionally for one port (`port`, `protocol` default TCP): NotFound when the
 * service does not expose it.
 */
@Controller()
export class ResolveServiceHandler {
  constructor(@Inject(DiscoveryReadModel) private readonly readModel: DiscoveryReadModel) {}

  @CommandHandler(DISCOVERY.resolveService)
  async handle(
    @CommandBody(DISCOVERY.resolveService) request: CommandRequest<ResolveServiceRequest>,
  ): Promise<ResolvedService> {
    const { serviceId, vip, port, protocol } = request.data;
    if ((serviceId === undefined) === (vip === undefined)) {
      throw new DomainError('InvalidArgument', 'give exactly one of serviceId and vip');
    }
    if (protocol !== undefined && port === undefined) {
      throw new DomainError('InvalidArgument', 'protocol narrows a port: give port too');
    }
    const service =
      serviceId !== undefined
        ? await this.readModel.service(serviceId)
        : await this.readModel.serviceByVip(vip as string);
    const wanted = port === undefined ? undefined : { protocol: protocol ?? 'TCP', port };
    const view = resolvedServiceView(await this.readModel.resolve(service), wanted);
    if (wanted !== undefined && view.ports.length === 0) {
      throw new DomainError(
        'NotFound',
        `service ${service.serviceId} has no port ${wanted.protocol}/${wanted.port}`,
      );
    }
    return view;
  }
}
