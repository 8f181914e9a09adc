import {
  assertHostIpv4,
  assertId,
  assertPort,
  BACKEND_HEALTH_STATUSES,
  MAX_HEALTH_REASON_LENGTH,
  parseTimestamp,
  PROTOCOLS,
  type BackendHealthStatus,
  type EndpointKind,
  type Labels,
  type Protocol,
  type Timestamp,
} from '@strata/domain';
import { commandSubject } from '../subjects';
import { commandSpec } from './protocol';
import { number, object, oneOf, optional, refine, string, type Infer } from './schema';

/**
 * The discovery service's contract: service VIP -> current backends, and the health reports
 * that take backends out of (and back into) rotation. Ids, addresses, ports and times are
 * checked with the domain's own validators (InvalidId / InvalidIp / InvalidPort /
 * InvalidTimestamp).
 */

const subject = (aggregate: string, verb: string) => commandSubject('discovery', aggregate, verb);
const id = (what: string) => refine(string({ maxLength: 256 }), (value) => assertId(value, what));
const timestamp = (what: string) =>
  refine(string({ maxLength: 64 }), (value): Timestamp => {
    parseTimestamp(value, what);
    return value;
  });

const resolveService = object({
  /** Exactly one of serviceId and vip. */
  serviceId: optional(id('service id')),
  vip: optional(refine(string({ maxLength: 64 }), (value) => assertHostIpv4(value, 'VIP'))),
  /** Only this service port (with `protocol`, default TCP); NotFound if it has none. */
  port: optional(refine(number(), (value) => assertPort(value, 'port'))),
  protocol: optional(oneOf(PROTOCOLS)),
});
const listServices = object({});
const reportHealth = object({
  serviceId: id('service id'),
  backend: id('backend endpoint uid'),
  status: oneOf(BACKEND_HEALTH_STATUSES),
  /** When the checker observed it; default: when the service receives the report. */
  at: optional(timestamp('report time')),
  reason: optional(string({ maxLength: MAX_HEALTH_REASON_LENGTH })),
});

export type ResolveServiceRequest = Infer<typeof resolveService>;
export type ListResolvedServicesRequest = Infer<typeof listServices>;
export type ReportBackendHealthRequest = Infer<typeof reportHealth>;

/** A backend the VIP forwards to now. */
export interface ResolvedBackend {
  readonly uid: string;
  readonly kind: EndpointKind;
  readonly segmentId: string;
  /** '' for an external endpoint. */
  readonly node: string;
  readonly ip: string;
  readonly labels: Labels;
}

/**
 * Why a backend the service names or selects is not used: its node is marked down, a health
 * check found it unhealthy, or (explicit backends only) no such endpoint exists.
 */
export type ExclusionReason = 'node-down' | 'unhealthy' | 'not-found';

export interface ExcludedBackend {
  readonly uid: string;
  readonly reason: ExclusionReason;
}

export interface ResolvedService {
  readonly serviceId: string;
  readonly name: string;
  readonly vip: string;
  /** Every port, or only the one asked for. */
  readonly ports: readonly { readonly protocol: Protocol; port: number; targetPort: number }[];
  /**
   * The segment a selector service selects in ('' for every segment, and for explicit
   * backends): the segment of the IPAM vip pool its VIP comes from.
   */
  readonly segmentId: string;
  /** Sorted by uid. */
  readonly backends: readonly ResolvedBackend[];
  /** Sorted by uid. */
  readonly excluded: readonly ExcludedBackend[];
}

export interface BackendHealthView {
  readonly serviceId: string;
  readonly backend: string;
  readonly status: BackendHealthStatus;
  /** When the current status was recorded (the report's time); null if never reported. */
  readonly since: Timestamp | null;
  /** Whether this report changed the status. */
  readonly changed: boolean;
}

export const DISCOVERY = {
  resolveService: commandSpec<ResolveServiceRequest, ResolvedService>(
    subject('service', 'resolve'),
    resolveService,
  ),
  listServices: commandSpec<
    ListResolvedServicesRequest,
    { readonly services: readonly ResolvedService[] }
  >(subject('service', 'list'), listServices),
  reportBackendHealth: commandSpec<ReportBackendHealthRequest, BackendHealthView>(
    subject('backend', 'report-health'),
    reportHealth,
  ),
} as const;
