import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  type CommandRequest,
  type CreateEndpointRequest,
  type EndpointView,
} from '@strata/bus';
import {
  cidrContains,
  DomainError,
  endpointDecider,
  endpointStream,
  parseCidr,
  parseIpv4,
} from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { endpointView } from '../read-model/views';
import { KeyedLock, segmentLock } from '../shared/keyed-lock';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.endpoint.create`, `POST /v1/endpoints`: a pod (on a node, with its MAC) or an
 * external endpoint on an existing segment (NotFound otherwise). Its IP must lie in one of the
 * segment's subnets (InvalidIp) and be held by no other endpoint of the segment (AddressInUse),
 * both checked against the read model. Idempotent by uid.
 */
@Controller()
export class CreateEndpointHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(KeyedLock) private readonly lock: KeyedLock,
  ) {}

  @CommandRoute(CONFIG.createEndpoint, {
    method: 'POST',
    path: '/v1/endpoints',
    status: 201,
    summary: 'Create a pod or external endpoint on a segment',
  })
  handle(@CommandInput() request: CommandRequest<CreateEndpointRequest>): Promise<EndpointView> {
    const { data } = request;
    return this.lock.run(segmentLock(data.segmentId), async () => {
      const segment = await this.readModel.segment(data.segmentId);
      const ip = parseIpv4(data.ip, 'endpoint IP');
      if (!segment.subnets.some((subnet) => cidrContains(parseCidr(subnet), ip))) {
        throw new DomainError(
          'InvalidIp',
          `endpoint IP ${data.ip} is not in segment ${segment.segmentId}'s subnets (${segment.subnets.join(', ')})`,
        );
      }
      const holder = (await this.readModel.activeEndpoints(segment.segmentId)).find(
        (endpoint) => endpoint.ip === data.ip && endpoint.uid !== data.uid,
      );
      if (holder !== undefined) {
        throw new DomainError(
          'AddressInUse',
          `${data.ip} is held by endpoint ${holder.uid} on segment ${segment.segmentId}`,
        );
      }
      await this.runner.run(
        endpointDecider,
        endpointStream(data.uid),
        { type: 'CreateEndpoint', data },
        commandMeta(request),
      );
      return endpointView(await this.readModel.endpoint(data.uid));
    });
  }
}
