import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  IPAM,
  type CommandRequest,
  type CreateSegmentRequest,
  type SegmentView,
} from '@strata/bus';
import {
  cidrsOverlap,
  DomainError,
  MIN_VNI,
  parseCidr,
  segmentDecider,
  segmentStream,
  type CreateSegment,
} from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { segmentView } from '../read-model/views';
import { IpamClient } from '../shared/ipam-client';
import { KeyedLock, SEGMENTS_LOCK } from '../shared/keyed-lock';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.segment.create`, `POST /v1/segments`: a segment with its subnets and a VNI
 * from IPAM (the lowest free one, or the one asked for: DuplicateVni when another segment holds
 * it). Subnets must not overlap any other segment's (OverlappingCidr, checked against the read
 * model). Idempotent: the same request again returns the segment without allocating anything;
 * the same id with other settings is AlreadyExists. Everything that can be rejected is checked
 * before IPAM is asked, so a rejected request holds no VNI.
 */
@Controller()
export class CreateSegmentHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(IpamClient) private readonly ipam: IpamClient,
    @Inject(KeyedLock) private readonly lock: KeyedLock,
  ) {}

  @CommandRoute(CONFIG.createSegment, {
    method: 'POST',
    path: '/v1/segments',
    status: 201,
    summary: 'Create a segment (VNI from IPAM unless given)',
  })
  handle(@CommandInput() request: CommandRequest<CreateSegmentRequest>): Promise<SegmentView> {
    return this.lock.run(SEGMENTS_LOCK, () => this.create(request));
  }

  private async create(request: CommandRequest<CreateSegmentRequest>): Promise<SegmentView> {
    const { segmentId, name, subnets, vni, federated = false } = request.data;
    const stream = segmentStream(segmentId);
    const meta = commandMeta(request);
    const command = (withVni: number): CreateSegment => ({
      type: 'CreateSegment',
      data: { segmentId, name, subnets, federated, vni: withVni },
    });
    const { state } = await this.runner.load(segmentDecider, stream, { fresh: true });
    if (state.status !== 'empty') {
      // A repeat (nothing to append) or AlreadyExists, decided by the aggregate itself.
      const known = state.status === 'active' ? state.vni : MIN_VNI;
      await this.runner.run(segmentDecider, stream, command(vni ?? known), meta);
      return segmentView(await this.readModel.segment(segmentId));
    }
    await this.assertNoOverlap(segmentId, subnets);
    const allocation = await this.ipam.execute(
      IPAM.allocateVni,
      { segmentId, ...(vni === undefined ? {} : { vni }) },
      request,
      'vni',
    );
    await this.runner.run(segmentDecider, stream, command(allocation.vni), meta);
    return segmentView(await this.readModel.segment(segmentId));
  }

  private async assertNoOverlap(segmentId: string, subnets: readonly string[]): Promise<void> {
    const wanted = subnets.map((subnet) => parseCidr(subnet));
    for (const other of await this.readModel.activeSegments()) {
      if (other.segmentId === segmentId) continue;
      for (const subnet of other.subnets) {
        const clash = wanted.find((cidr) => cidrsOverlap(cidr, parseCidr(subnet)));
        if (clash !== undefined) {
          throw new DomainError(
            'OverlappingCidr',
            `subnet ${subnets[wanted.indexOf(clash)]} overlaps ${subnet} of segment ${other.segmentId}`,
          );
        }
      }
    }
  }
}
