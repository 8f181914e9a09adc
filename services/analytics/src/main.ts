import { runServiceMain } from '@strata/bus';
import { ANALYTICS_SERVICE, startAnalyticsService } from './analytics-service';

/**
 * Runs the analytics service alone, as one replica: `node dist/services/analytics/src/main.js
 * --nats nats://127.0.0.1:4222 --store .strata/events.db [--credentials .strata/credentials]`.
 * Flags, readiness line and shutdown are runServiceMain's.
 */
runServiceMain({
  name: ANALYTICS_SERVICE,
  description:
    'Strata analytics service: per-node flow reports, per-tier summaries, propagation times',
  start: startAnalyticsService,
});
