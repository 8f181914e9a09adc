import { Controller, Inject } from '@nestjs/common';
import {
  ANALYTICS,
  CommandBody,
  CommandHandler,
  type CommandRequest,
  type RecentPropagation,
  type RecentPropagationRequest,
} from '@strata/bus';
import { PropagationTracker } from './propagation-tracker';

/**
 * `strata.analytics.propagation.recent`: the last N tracked events of the log, each with its
 * propagation summary, and p50/p99/max over every (event, node) pair. How to find an event id
 * for `propagation.get`.
 */
@Controller()
export class RecentPropagationHandler {
  constructor(@Inject(PropagationTracker) private readonly tracker: PropagationTracker) {}

  @CommandHandler(ANALYTICS.recentPropagation)
  handle(
    @CommandBody(ANALYTICS.recentPropagation) request: CommandRequest<RecentPropagationRequest>,
  ): Promise<RecentPropagation> {
    return this.tracker.recent(request.data.last);
  }
}
