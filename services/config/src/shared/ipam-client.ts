import { createHash } from 'node:crypto';
import type { CommandClient, CommandRequest, CommandSpec } from '@strata/bus';

/**
 * The config service's calls to IPAM (VNIs for segments, VIPs for services) and to the policy
 * service (endpoint identities) over NATS.
 *
 * Each call's command id is derived from the config command that makes it and the step it is
 * (`vni`, `vip`, `vni-release`, ...): a retried config command makes exactly the same IPAM
 * commands, which IPAM recognises as retries, and one config command never makes two different
 * IPAM commands with one id. Correlation id and actor pass through, so the IPAM events of a
 * change carry the same correlation id as its config events. A transport failure (IPAM not
 * answering) is retried once with the same id, then surfaces as Timeout / NoResponders.
 */
export class IpamClient {
  constructor(
    private readonly client: CommandClient,
    /** The VIP pool for services whose request names none. */
    readonly defaultVipPool: string,
  ) {}

  execute<Request, Reply>(
    spec: CommandSpec<Request, Reply>,
    data: Request,
    cause: CommandRequest<unknown>,
    step: string,
  ): Promise<Reply> {
    return this.client.execute(spec, data, {
      commandId: derivedCommandId(cause.commandId, step),
      correlationId: cause.correlationId,
      ...(cause.actor === '' ? {} : { actor: cause.actor }),
      retries: 1,
    });
  }
}

/** 43 printable characters, within the protocol's 128. */
export function derivedCommandId(commandId: string, step: string): string {
  return createHash('sha256').update(`${commandId}\n${step}`).digest('base64url');
}
