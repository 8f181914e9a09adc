import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  DEFAULT_VNI_POOL,
  IPAM,
  type CommandRequest,
  type ReleaseVniRequest,
  type VniRelease,
} from '@strata/bus';
import { isDomainError, vniPoolDecider, vniPoolStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';

/** `strata.ipam.vni.release`: frees a segment's VNI; idempotent (`released: null` after). */
@Controller()
export class ReleaseVniHandler {
  constructor(@Inject(DeciderRunner) private readonly runner: DeciderRunner) {}

  @CommandHandler(IPAM.releaseVni)
  async handle(
    @CommandBody(IPAM.releaseVni) request: CommandRequest<ReleaseVniRequest>,
  ): Promise<VniRelease> {
    const { segmentId } = request.data;
    const poolId = request.data.poolId ?? DEFAULT_VNI_POOL;
    try {
      const { events } = await this.runner.run(
        vniPoolDecider,
        vniPoolStream(poolId),
        { type: 'ReleaseVni', data: { poolId, owner: segmentId } },
        commandMeta(request),
      );
      let released: number | null = null;
      for (const event of events) {
        if (event.type === 'VniReleased') released = event.data.vni;
      }
      return { poolId, segmentId, released };
    } catch (error) {
      // The default pool not created yet holds no VNI: nothing to release.
      if (isDomainError(error) && error.code === 'NotFound' && poolId === DEFAULT_VNI_POOL) {
        return { poolId, segmentId, released: null };
      }
      throw error;
    }
  }
}
