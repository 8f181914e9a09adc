import { Module } from '@nestjs/common';
import { ListServicesHandler } from './list-services/list-services.handler';
import { DiscoveryReadModel } from './read-model/discovery-read-model';
import { ReportBackendHealthHandler } from './report-backend-health/report-backend-health.handler';
import { ResolveServiceHandler } from './resolve-service/resolve-service.handler';

/** The discovery service: one handler per use case (each its own folder), over its read model. */
@Module({
  controllers: [ResolveServiceHandler, ListServicesHandler, ReportBackendHealthHandler],
  providers: [DiscoveryReadModel],
})
export class DiscoveryModule {}
