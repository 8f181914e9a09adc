import { connect, type NatsConnection } from 'nats';
import { createStrataService, type StrataService, type StrataServiceOptions } from '@strata/bus';
import { AnalyticsModule } from './analytics.module';
import { propagationSettings, type PropagationSettings } from './propagation/propagation-settings';
import { PropagationTracker } from './propagation/propagation-tracker';

export const ANALYTICS_SERVICE = 'analytics';

export interface AnalyticsServiceOptions extends Omit<
  StrataServiceOptions,
  'name' | 'module' | 'queue'
> {
  /** The propagation tracker's window; what is left out takes DEFAULT_PROPAGATION_SETTINGS. */
  readonly propagation?: Partial<PropagationSettings>;
}

export interface AnalyticsService extends StrataService {
  /** This replica's propagation tracker (tests wait on its `waitApplied`). */
  readonly propagation: PropagationTracker;
}

/**
 * Starts the analytics service: its handlers in the `analytics` queue group, over `store`, and
 * the propagation tracker, which follows the agents' applied reports on a connection of its own
 * (same identity: `analytics` may subscribe to `strata.agent.>`), subscribed before the handlers
 * serve. Closing stops the handlers, then the tracker, then that connection; closing again
 * waits for the first close. Bad propagation settings are a RangeError before anything connects.
 */
export async function startAnalyticsService(
  options: AnalyticsServiceOptions,
): Promise<AnalyticsService> {
  const { propagation: given, ...serviceOptions } = options;
  const settings = propagationSettings(given);
  const connection = await connectReports(options);
  let tracker: PropagationTracker | undefined;
  let service: StrataService | undefined;
  try {
    tracker = await PropagationTracker.start({ connection, store: options.store, settings });
    const propagation = tracker;
    service = await createStrataService({
      ...serviceOptions,
      name: ANALYTICS_SERVICE,
      module: AnalyticsModule.forRoot({ propagation }),
      queue: ANALYTICS_SERVICE,
    });
    const nats = service;
    let closing: Promise<void> | undefined;
    return {
      ...nats,
      propagation,
      close() {
        closing ??= (async () => {
          await nats.close();
          await propagation.close();
          await connection.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await service?.close();
    await tracker?.close();
    await connection.close();
    throw error;
  }
}

function connectReports(options: AnalyticsServiceOptions): Promise<NatsConnection> {
  return connect({
    servers: typeof options.natsUrl === 'string' ? options.natsUrl : [...options.natsUrl],
    name: `strata-${ANALYTICS_SERVICE}-reports`,
    maxReconnectAttempts: -1,
    ...(options.credentials === undefined
      ? {}
      : {
          authenticator: options.credentials.authenticator,
          inboxPrefix: options.credentials.inboxPrefix,
        }),
  });
}
