import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  HISTORY,
  type CommandRequest,
  type ExportPage,
  type ExportRequest,
} from '@strata/bus';
import { HistoryIndex } from './history-index';

/** `strata.analytics.history.export`: a slice of history, page by page: the facts at its start, its events, and every node's digest at its end. */
@Controller()
export class ExportHandler {
  constructor(@Inject(HistoryIndex) private readonly history: HistoryIndex) {}

  @CommandHandler(HISTORY.export)
  handle(@CommandBody(HISTORY.export) request: CommandRequest<ExportRequest>): Promise<ExportPage> {
    return this.history.exportPage(request.data);
  }
}
