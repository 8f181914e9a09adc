import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  HISTORY,
  type CommandRequest,
  type ExplainVerdictResult,
  type ExplainVerdictRequest,
} from '@strata/bus';
import { HistoryIndex } from './history-index';

/** `strata.analytics.history.explain-verdict`: the policy verdict between two endpoints at a moment (rule, tier, policy revision per direction) and the events that wrote it. */
@Controller()
export class ExplainVerdictHandler {
  constructor(@Inject(HistoryIndex) private readonly history: HistoryIndex) {}

  @CommandHandler(HISTORY.explainVerdict)
  handle(
    @CommandBody(HISTORY.explainVerdict) request: CommandRequest<ExplainVerdictRequest>,
  ): Promise<ExplainVerdictResult> {
    return this.history.explainVerdict(request.data);
  }
}
