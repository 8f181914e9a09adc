import { Controller, Inject } from '@nestjs/common';
import {
  commandMeta,
  CONFIG,
  IDENTITY,
  type CommandRequest,
  type EndpointView,
  type RelabelEndpointRequest,
} from '@strata/bus';
import { endpointDecider, endpointStream } from '@strata/domain';
import { DeciderRunner } from '@strata/eventstore';
import { ConfigReadModel } from '../read-model/config-read-model';
import { endpointView } from '../read-model/views';
import { IpamClient } from '../shared/ipam-client';
import { CommandInput, CommandRoute } from '../transport/command-route';

/**
 * `strata.config.endpoint.relabel`, `PUT /v1/endpoints/:uid/labels`: replaces an endpoint's
 * labels with the complete new set (policy and service selection follow them). The identity
 * of the new security labels is acquired from the policy service first and carried by
 * EndpointLabelsUpdated (see create-endpoint).
 */
@Controller()
export class RelabelEndpointHandler {
  constructor(
    @Inject(DeciderRunner) private readonly runner: DeciderRunner,
    @Inject(ConfigReadModel) private readonly readModel: ConfigReadModel,
    @Inject(IpamClient) private readonly services: IpamClient,
  ) {}

  @CommandRoute(CONFIG.relabelEndpoint, {
    method: 'PUT',
    path: '/v1/endpoints/:uid/labels',
    summary: "Replace an endpoint's labels",
  })
  async handle(
    @CommandInput() request: CommandRequest<RelabelEndpointRequest>,
  ): Promise<EndpointView> {
    const { uid, labels } = request.data;
    // NotFound for an endpoint that does not exist; segment and kind never change.
    const { segmentId, kind } = await this.readModel.endpoint(uid);
    const { identity } = await this.services.execute(
      IDENTITY.acquire,
      { labels, segmentId, kind },
      request,
      'identity',
    );
    await this.runner.run(
      endpointDecider,
      endpointStream(uid),
      { type: 'UpdateEndpointLabels', data: { uid, labels, identity } },
      commandMeta(request),
    );
    return endpointView(await this.readModel.endpoint(uid));
  }
}
