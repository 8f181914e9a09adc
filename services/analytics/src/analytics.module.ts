import { Module, type DynamicModule } from '@nestjs/common';
import { FlowSummaryHandler } from './flow-summary/flow-summary.handler';
import { HISTORY_HANDLERS, HISTORY_PROVIDERS } from './history/history.providers';
import { GetPropagationHandler } from './propagation/get-propagation.handler';
import { PropagationTracker } from './propagation/propagation-tracker';
import { RecentPropagationHandler } from './propagation/recent-propagation.handler';
import { FlowReadModel } from './read-model/flow-read-model';
import { ReportFlowsHandler } from './report-flows/report-flows.handler';

/** What the analytics module is built from; the rest Nest constructs. */
export interface AnalyticsModuleOptions {
  /** Started (subscribed) before the handlers serve. */
  readonly propagation: PropagationTracker;
}

/** The analytics service: one handler per use case (each its own folder), over its read models. */
@Module({})
export class AnalyticsModule {
  static forRoot(options: AnalyticsModuleOptions): DynamicModule {
    return {
      module: AnalyticsModule,
      controllers: [
        ReportFlowsHandler,
        FlowSummaryHandler,
        GetPropagationHandler,
        RecentPropagationHandler,
        ...HISTORY_HANDLERS,
      ],
      providers: [
        FlowReadModel,
        { provide: PropagationTracker, useValue: options.propagation },
        ...HISTORY_PROVIDERS,
      ],
    };
  }
}
