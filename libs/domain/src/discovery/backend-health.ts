import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { assertId } from '../shared/ids';
import { parseTimestamp, type Timestamp } from '../shared/time';

/**
 * Backend health: what health checks found out about a service's backends, the input to
 * failover in service discovery. Stream: `backendhealth-<serviceId>`, one per service.
 *
 * A backend is healthy until a check reports otherwise. Only changes are recorded: a report that
 * agrees with what the stream holds appends nothing, so checkers may report on every probe. A
 * report older than the backend's last recorded change (a slow checker, a retry) appends nothing
 * either: the newer observation wins whatever order the reports arrive in. The time is the
 * checker's, inside the command; the decider reads no clock.
 */
export const backendHealthStream = (serviceId: string): string => `backendhealth-${serviceId}`;

export type BackendHealthStatus = 'healthy' | 'unhealthy';
export const BACKEND_HEALTH_STATUSES: readonly BackendHealthStatus[] = ['healthy', 'unhealthy'];
export const MAX_HEALTH_REASON_LENGTH = 256;

/** A backend's health changed; `reason` is '' when the checker gave none. */
export type BackendHealthChanged = Event<
  'BackendHealthChanged',
  {
    serviceId: string;
    backend: string;
    status: BackendHealthStatus;
    at: Timestamp;
    reason: string;
  }
>;
export type BackendHealthEvent = BackendHealthChanged;

export type ReportBackendHealth = Command<
  'ReportBackendHealth',
  {
    serviceId: string;
    /** The backend endpoint's uid. */
    backend: string;
    status: BackendHealthStatus;
    at: Timestamp;
    reason?: string;
  }
>;
export type BackendHealthCommand = ReportBackendHealth;

export interface BackendHealth {
  readonly status: BackendHealthStatus;
  /** When the status was last recorded as changed. */
  readonly since: Timestamp;
  readonly reason: string;
}

export type BackendHealthState =
  | { status: 'empty' }
  | {
      status: 'tracking';
      serviceId: string;
      /** By backend uid: every backend a change was ever recorded for. */
      backends: Readonly<Record<string, BackendHealth>>;
    };

export function decideBackendHealth(
  command: BackendHealthCommand,
  state: BackendHealthState,
): BackendHealthEvent[] {
  switch (command.type) {
    case 'ReportBackendHealth': {
      const serviceId = assertId(command.data.serviceId, 'service id');
      const backend = assertId(command.data.backend, 'backend endpoint uid');
      const { status } = command.data;
      if (!BACKEND_HEALTH_STATUSES.includes(status)) {
        throw new DomainError(
          'InvalidArgument',
          `health must be healthy or unhealthy, got ${JSON.stringify(status)}`,
        );
      }
      const at = parseTimestamp(command.data.at, 'report time');
      const reason = command.data.reason ?? '';
      if (typeof reason !== 'string' || reason.length > MAX_HEALTH_REASON_LENGTH) {
        throw new DomainError(
          'InvalidArgument',
          `reason must be a string of at most ${MAX_HEALTH_REASON_LENGTH} characters`,
        );
      }
      if (state.status === 'tracking' && state.serviceId !== serviceId) {
        throw new DomainError(
          'InvalidArgument',
          `stream of service ${state.serviceId} cannot take a report for ${serviceId}`,
        );
      }
      const known = state.status === 'tracking' ? healthOf(state.backends, backend) : undefined;
      const current = known?.status ?? 'healthy';
      if (known !== undefined && at <= parseTimestamp(known.since, 'last change')) return [];
      if (current === status) return [];
      return [
        {
          type: 'BackendHealthChanged',
          data: { serviceId, backend, status, at: command.data.at, reason },
        },
      ];
    }
    default: {
      const _exhaustive: never = command.type;
      throw new DomainError(
        'InvalidArgument',
        `unknown backend health command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

export function evolveBackendHealth(
  state: BackendHealthState,
  event: BackendHealthEvent,
): BackendHealthState {
  switch (event.type) {
    case 'BackendHealthChanged': {
      const { serviceId, backend, status, at, reason } = event.data;
      const backends = state.status === 'tracking' ? state.backends : {};
      return {
        status: 'tracking',
        serviceId,
        backends: { ...backends, [backend]: { status, since: at, reason } },
      };
    }
    default: {
      const _exhaustive: never = event.type;
      void _exhaustive;
      return state;
    }
  }
}

/** The health of `backend` in `state`: healthy unless a check recorded otherwise. */
export function isBackendHealthy(state: BackendHealthState, backend: string): boolean {
  return state.status === 'empty' || healthOf(state.backends, backend)?.status !== 'unhealthy';
}

/** Own entries only: a uid like `__proto__` is a key, not a way into Object.prototype. */
function healthOf(
  backends: Readonly<Record<string, BackendHealth>>,
  backend: string,
): BackendHealth | undefined {
  return Object.prototype.hasOwnProperty.call(backends, backend) ? backends[backend] : undefined;
}

export const backendHealthDecider: Decider<
  BackendHealthState,
  BackendHealthCommand,
  BackendHealthEvent
> = {
  decide: decideBackendHealth,
  evolve: evolveBackendHealth,
  initialState: () => ({ status: 'empty' }),
};
