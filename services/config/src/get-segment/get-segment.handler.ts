import { Controller, Inject } from '@nestjs/common';
import { CONFIG, type CommandRequest, type SegmentRefRequest, type SegmentView } from '@strata/bus';
import { ConfigReadModel } from '../read-model/config-read-model';
import { segmentView } from '../read-model/views';
import { CommandInput, CommandRoute } from '../transport/command-route';

/** `strata.config.segment.get`, `GET /v1/segments/:segmentId`: one segment, or NotFound. */
@Controller()
export class GetSegmentHandler {
  constructor(@Inject(ConfigReadModel) private readonly readModel: ConfigReadModel) {}

  @CommandRoute(CONFIG.getSegment, {
    method: 'GET',
    path: '/v1/segments/:segmentId',
    summary: 'Get a segment',
  })
  async handle(@CommandInput() request: CommandRequest<SegmentRefRequest>): Promise<SegmentView> {
    return segmentView(await this.readModel.segment(request.data.segmentId));
  }
}
