import { Controller, Inject } from '@nestjs/common';
import { CONFIG, type CommandRequest, type EmptyRequest, type SegmentView } from '@strata/bus';
import { ConfigReadModel } from '../read-model/config-read-model';
import { segmentView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/** `strata.config.segment.list`, `GET /v1/segments`: every segment, by id. */
@Controller()
export class ListSegmentsHandler {
  constructor(@Inject(ConfigReadModel) private readonly readModel: ConfigReadModel) {}

  @CommandRoute(CONFIG.listSegments, {
    method: 'GET',
    path: '/v1/segments',
    summary: 'List segments',
  })
  async handle(
    @CommandInput() _request: CommandRequest<EmptyRequest>,
  ): Promise<{ segments: SegmentView[] }> {
    return { segments: (await this.readModel.activeSegments()).map(segmentView) };
  }
}
