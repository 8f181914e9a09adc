import { Controller, Inject } from '@nestjs/common';
import {
  ANALYTICS,
  CommandBody,
  CommandHandler,
  commandMeta,
  type CommandRequest,
  type FlowReportReceipt,
  type ReportFlowsRequest,
} from '@strata/bus';
import { flowReportDecider, flowReportStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';

/**
 * `strata.analytics.flow.report`: one node's counters for one interval. Idempotent by node and
 * interval start: a retry is acknowledged with `recorded: false` and counted once; other
 * counters for a recorded interval, or an overlapping interval, are AlreadyExists.
 */
@Controller()
export class ReportFlowsHandler {
  constructor(@Inject(DeciderRunner) private readonly runner: DeciderRunner) {}

  @CommandHandler(ANALYTICS.reportFlows)
  async handle(
    @CommandBody(ANALYTICS.reportFlows) request: CommandRequest<ReportFlowsRequest>,
  ): Promise<FlowReportReceipt> {
    const { node, intervalStart, intervalEnd, flows } = request.data;
    const result = await this.runner.run(
      flowReportDecider,
      flowReportStream(node),
      { type: 'ReportFlows', data: request.data },
      commandMeta(request),
    );
    return {
      node,
      intervalStart,
      intervalEnd,
      flows: flows.length,
      recorded: result.events.length > 0,
    };
  }
}
