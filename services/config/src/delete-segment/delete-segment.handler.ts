import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  IPAM,
  type CommandRequest,
  type SegmentRefRequest,
} from '@strata/bus';
import { DomainError, segmentDecider, segmentStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { IpamClient } from '../shared/ipam-client';
import { KeyedLock, segmentLock } from '../shared/keyed-lock';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.segment.delete`, `DELETE /v1/segments/:segmentId`: deletes a segment that no
 * endpoint is on (InvalidState otherwise), then gives its VNI back to IPAM. Idempotent: deleting
 * a deleted segment again only repeats the (idempotent) release, which also finishes a delete
 * whose release failed the first time.
 */
@Controller()
export class DeleteSegmentHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(IpamClient) private readonly ipam: IpamClient,
    @Inject(KeyedLock) private readonly lock: KeyedLock,
  ) {}

  @CommandRoute(CONFIG.deleteSegment, {
    method: 'DELETE',
    path: '/v1/segments/:segmentId',
    summary: 'Delete a segment without endpoints; its VNI goes back to IPAM',
  })
  handle(
    @CommandInput() request: CommandRequest<SegmentRefRequest>,
  ): Promise<{ segmentId: string }> {
    const { segmentId } = request.data;
    return this.lock.run(segmentLock(segmentId), async () => {
      const endpoints = await this.readModel.activeEndpoints(segmentId);
      if (endpoints.length > 0) {
        throw new DomainError(
          'InvalidState',
          `segment ${segmentId} still has ${endpoints.length} endpoint(s), e.g. ${endpoints[0].uid}; delete them first`,
        );
      }
      await this.runner.run(
        segmentDecider,
        segmentStream(segmentId),
        { type: 'DeleteSegment', data: { segmentId } },
        commandMeta(request),
      );
      await this.ipam.execute(IPAM.releaseVni, { segmentId }, request, 'vni-release');
      await this.readModel.catchUp();
      return { segmentId };
    });
  }
}
