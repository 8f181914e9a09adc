import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  DEFAULT_VNI_POOL,
  IPAM,
  type AllocateVniRequest,
  type CommandRequest,
  type VniAllocation,
} from '@strata/bus';
import { isDomainError, vniOf, vniPoolDecider, vniPoolStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { duplicateCommand } from '../pools/pool-shards';

/**
 * `strata.ipam.vni.allocate`: a segment's VXLAN network identifier, the lowest free one unless
 * the request names one (a federated segment keeps its VNI in every cluster). Idempotent by
 * segment. The default pool (1..16777215) is created on first use; other pools must exist.
 */
@Controller()
export class AllocateVniHandler {
  constructor(@Inject(DeciderRunner) private readonly runner: DeciderRunner) {}

  @CommandHandler(IPAM.allocateVni)
  async handle(
    @CommandBody(IPAM.allocateVni) request: CommandRequest<AllocateVniRequest>,
  ): Promise<VniAllocation> {
    const { segmentId, vni } = request.data;
    const poolId = request.data.poolId ?? DEFAULT_VNI_POOL;
    const stream = vniPoolStream(poolId);
    const meta = commandMeta(request);
    const allocate = () =>
      this.runner.run(
        vniPoolDecider,
        stream,
        {
          type: 'AllocateVni',
          data: { poolId, owner: segmentId, ...(vni === undefined ? {} : { vni }) },
        },
        meta,
      );
    let run;
    try {
      run = await allocate();
    } catch (error) {
      if (!isDomainError(error) || error.code !== 'NotFound' || poolId !== DEFAULT_VNI_POOL) {
        throw error;
      }
      await this.runner.run(
        vniPoolDecider,
        stream,
        { type: 'CreateVniPool', data: { poolId } },
        meta,
      );
      run = await allocate();
    }
    const held = vniOf(run.state, segmentId);
    if (held === undefined) throw duplicateCommand(meta, `VNI for ${segmentId}`);
    return { poolId, segmentId, vni: held };
  }
}
