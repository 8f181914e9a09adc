import { createStrataService, type StrataService, type StrataServiceOptions } from '@strata/bus';
import { AnalyticsModule } from './analytics.module';

export const ANALYTICS_SERVICE = 'analytics';

export type AnalyticsServiceOptions = Omit<StrataServiceOptions, 'name' | 'module' | 'queue'>;

/** Starts the analytics service: its handlers in the `analytics` queue group, over `store`. */
export function startAnalyticsService(options: AnalyticsServiceOptions): Promise<StrataService> {
  return createStrataService({
    ...options,
    name: ANALYTICS_SERVICE,
    module: AnalyticsModule,
    queue: ANALYTICS_SERVICE,
  });
}
