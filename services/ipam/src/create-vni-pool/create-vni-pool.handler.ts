import { Controller, Inject } from '@nestjs/common';
import {
  CommandBody,
  CommandHandler,
  commandMeta,
  IPAM,
  type CommandRequest,
  type CreateVniPoolRequest,
  type VniPoolView,
} from '@strata/bus';
import { DomainError, vniPoolDecider, vniPoolStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';

/** `strata.ipam.vnipool.create`: a VNI range to allocate segments' VNIs from. */
@Controller()
export class CreateVniPoolHandler {
  constructor(@Inject(DeciderRunner) private readonly runner: DeciderRunner) {}

  @CommandHandler(IPAM.createVniPool)
  async handle(
    @CommandBody(IPAM.createVniPool) request: CommandRequest<CreateVniPoolRequest>,
  ): Promise<VniPoolView> {
    const { poolId } = request.data;
    const { state } = await this.runner.run(
      vniPoolDecider,
      vniPoolStream(poolId),
      { type: 'CreateVniPool', data: request.data },
      commandMeta(request),
    );
    if (state.status !== 'active')
      throw new DomainError('NotFound', `VNI pool ${poolId} not found`);
    return { poolId, first: state.first, last: state.last };
  }
}
