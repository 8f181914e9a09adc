import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  DISCOVERY,
  type BackendHealthView,
  type CommandRequest,
  type ReportBackendHealthRequest,
} from '@strata/bus';
import { backendHealthDecider, backendHealthStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { DiscoveryReadModel } from '../read-model/discovery-read-model';

/**
 * `strata.discovery.backend.report-health`: a health checker's verdict on one backend of a
 * service (NotFound for a service that does not exist). Only changes are recorded, and a report
 * older than the last recorded change is ignored (see the BackendHealth aggregate). The time is
 * the checker's `at`, or when the report arrives if it gives none.
 */
@Controller()
export class ReportBackendHealthHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(DiscoveryReadModel) private readonly readModel: DiscoveryReadModel,
  ) {}

  @CommandHandler(DISCOVERY.reportBackendHealth)
  async handle(
    @CommandBody(DISCOVERY.reportBackendHealth) request: CommandRequest<ReportBackendHealthRequest>,
  ): Promise<BackendHealthView> {
    const { serviceId, backend, status, at, reason } = request.data;
    await this.readModel.service(serviceId);
    const result = await this.runner.run(
      backendHealthDecider,
      backendHealthStream(serviceId),
      {
        type: 'ReportBackendHealth',
        data: {
          serviceId,
          backend,
          status,
          // The boundary's clock: the decider only ever sees the time inside the command.
          at: at ?? new Date().toISOString(),
          ...(reason === undefined ? {} : { reason }),
        },
      },
      commandMeta(request),
    );
    const state = result.state;
    const recorded =
      state.status === 'tracking' && Object.prototype.hasOwnProperty.call(state.backends, backend)
        ? state.backends[backend]
        : undefined;
    return {
      serviceId,
      backend,
      status: recorded?.status ?? 'healthy',
      since: recorded?.since ?? null,
      changed: result.events.length > 0,
    };
  }
}
