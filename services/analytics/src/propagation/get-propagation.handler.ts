import { Controller, Inject } from '@nestjs/common';
import {
  ANALYTICS,
  CommandBody,
  CommandHandler,
  type CommandRequest,
  type EventPropagation,
  type PropagationRequest,
} from '@strata/bus';
import { PropagationTracker } from './propagation-tracker';

/**
 * `strata.analytics.propagation.get`: when each node applied one event, and how long after it
 * was recorded. NotFound for an id the log never had; NotTracked for an event older than the
 * tracker's window or appended before this replica began following the agents' reports.
 */
@Controller()
export class GetPropagationHandler {
  constructor(@Inject(PropagationTracker) private readonly tracker: PropagationTracker) {}

  @CommandHandler(ANALYTICS.propagation)
  handle(
    @CommandBody(ANALYTICS.propagation) request: CommandRequest<PropagationRequest>,
  ): Promise<EventPropagation> {
    return this.tracker.get(request.data.eventId);
  }
}
