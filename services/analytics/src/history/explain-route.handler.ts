import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  HISTORY,
  type CommandRequest,
  type ExplainRouteResult,
  type ExplainRouteRequest,
} from '@strata/bus';
import { HistoryIndex } from './history-index';

/** `strata.analytics.history.explain-route`: the entries for one address on one node at a moment, every event that changed them, and the events behind their facts. */
@Controller()
export class ExplainRouteHandler {
  constructor(@Inject(HistoryIndex) private readonly history: HistoryIndex) {}

  @CommandHandler(HISTORY.explainRoute)
  handle(
    @CommandBody(HISTORY.explainRoute) request: CommandRequest<ExplainRouteRequest>,
  ): Promise<ExplainRouteResult> {
    return this.history.explainRoute(request.data.node, request.data.ip, request.data.at);
  }
}
