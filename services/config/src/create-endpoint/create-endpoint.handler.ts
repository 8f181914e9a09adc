import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  IDENTITY,
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
import { IpamClient } from '../shared/ipam-client';
import { KeyedLock, segmentLock } from '../shared/keyed-lock';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.endpoint.create`, `POST /v1/endpoints`: a pod (on a node, with its MAC) or an
 * external endpoint on an existing segment (NotFound otherwise). Its IP must lie in one of the
 * segment's subnets (InvalidIp) and be held by no other endpoint of the segment (AddressInUse),
 * both checked against the read model. Idempotent by uid.
 *
 * Before it decides, it acquires the identity of the endpoint's security labels from the
 * policy service (`strata.policy.identity.acquire`), and EndpointCreated carries it: an
 * endpoint is never appended without its identity. IdentitiesExhausted (or Timeout /
 * NoResponders when the policy service does not answer) fails the request, appending nothing.
 */
@Controller()
export class CreateEndpointHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(KeyedLock) private readonly lock: KeyedLock,
    @Inject(IpamClient) private readonly services: IpamClient,
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
      const { identity } = await this.services.execute(
        IDENTITY.acquire,
        { labels: data.labels ?? {}, segmentId: data.segmentId, kind: data.kind },
        request,
        'identity',
      );
      await this.runner.run(
        endpointDecider,
        endpointStream(data.uid),
        { type: 'CreateEndpoint', data: { ...data, identity } },
        commandMeta(request),
      );
      return endpointView(await this.readModel.endpoint(data.uid));
    });
  }
}
