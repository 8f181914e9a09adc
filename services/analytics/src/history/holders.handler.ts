import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  HISTORY,
  type CommandRequest,
  type HoldersResult,
  type HoldersRequest,
} from '@strata/bus';
import { HistoryIndex } from './history-index';

/** `strata.analytics.history.holders`: who held an address or an identity, and when. */
@Controller()
export class HoldersHandler {
  constructor(@Inject(HistoryIndex) private readonly history: HistoryIndex) {}

  @CommandHandler(HISTORY.holders)
  handle(
    @CommandBody(HISTORY.holders) request: CommandRequest<HoldersRequest>,
  ): Promise<HoldersResult> {
    return this.history.holders(request.data);
  }
}
