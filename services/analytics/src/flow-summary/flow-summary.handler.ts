import { Controller, Inject } from '@nestjs/common';
import {
  ANALYTICS,
  CommandBody,
  CommandHandler,
  type CommandRequest,
  type FlowSummary,
  type FlowSummaryRequest,
} from '@strata/bus';
import { DomainError, parseTimestamp } from '@strata/domain';
import { FlowReadModel } from '../read-model/flow-read-model';

/**
 * `strata.analytics.flow.summary`: packet and byte totals per tier pair and per identity pair
 * of the reports whose interval starts in [from, to), of every node or of one.
 */
@Controller()
export class FlowSummaryHandler {
  constructor(@Inject(FlowReadModel) private readonly readModel: FlowReadModel) {}

  @CommandHandler(ANALYTICS.flowSummary)
  async handle(
    @CommandBody(ANALYTICS.flowSummary) request: CommandRequest<FlowSummaryRequest>,
  ): Promise<FlowSummary> {
    const { from, to, node } = request.data;
    if (parseTimestamp(to, 'window end') <= parseTimestamp(from, 'window start')) {
      throw new DomainError('InvalidArgument', `the window must end after it starts (${from})`);
    }
    return this.readModel.summary(from, to, node);
  }
}
