import { Module } from '@nestjs/common';
import { FlowSummaryHandler } from './flow-summary/flow-summary.handler';
import { FlowReadModel } from './read-model/flow-read-model';
import { ReportFlowsHandler } from './report-flows/report-flows.handler';

/** The analytics service: one handler per use case (each its own folder), over its read model. */
@Module({
  controllers: [ReportFlowsHandler, FlowSummaryHandler],
  providers: [FlowReadModel],
})
export class AnalyticsModule {}
