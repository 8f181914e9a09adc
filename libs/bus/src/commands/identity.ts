import { assertId, ENDPOINT_KINDS, parseLabels, type Labels } from '@strata/domain';
import { commandSubject } from '../subjects';
import { commandSpec } from './protocol';
import { integer, object, oneOf, refine, string, type Infer } from './schema';

/**
 * Security identities (docs/policy.md), answered by the policy service: the numeric identity
 * of an endpoint's security labels, and reads of the identities allocated. The config service
 * acquires before it appends EndpointCreated / EndpointLabelsUpdated. Labels are checked with
 * the domain's validator (InvalidLabels, also for a label Strata derives itself); running out
 * of numbers is IdentitiesExhausted.
 */

const subject = (verb: string) => commandSubject('policy', 'identity', verb);

const acquireIdentity = object({
  /** The endpoint's own labels; the service derives the security labels from them. */
  labels: { parse: (value: unknown) => parseLabels(value, 'labels') },
  segmentId: refine(string({ maxLength: 256 }), (value) => assertId(value, 'segment id')),
  kind: oneOf(ENDPOINT_KINDS),
});
const identityRef = object({ identity: integer({ min: 0, max: 65_535 }) });
const listIdentities = object({});

export type AcquireIdentityRequest = Infer<typeof acquireIdentity>;
export type IdentityRefRequest = Infer<typeof identityRef>;
export type ListIdentitiesRequest = Infer<typeof listIdentities>;

export interface IdentityAcquired {
  readonly identity: number;
  /** The canonical security label set string. */
  readonly key: string;
}

export interface IdentityView {
  readonly identity: number;
  readonly key: string;
  /** The security labels. */
  readonly labels: Labels;
  /** Uids of the endpoints that hold it, sorted; empty while it waits out the grace period. */
  readonly holders: readonly string[];
}

export const IDENTITY = {
  /** Idempotent: the same security labels always get the identity they hold. */
  acquire: commandSpec<AcquireIdentityRequest, IdentityAcquired>(
    subject('acquire'),
    acquireIdentity,
  ),
  /** NotFound when the number is not allocated. */
  get: commandSpec<IdentityRefRequest, IdentityView>(subject('get'), identityRef),
  /** By number; `inUse` counts them (the headroom is 65280 - inUse). */
  list: commandSpec<
    ListIdentitiesRequest,
    { readonly identities: readonly IdentityView[]; readonly inUse: number }
  >(subject('list'), listIdentities),
} as const;
