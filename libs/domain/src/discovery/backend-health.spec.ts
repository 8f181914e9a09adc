import { specFor } from '../testing/given-when-then';
import {
  backendHealthDecider,
  backendHealthStream,
  isBackendHealthy,
  type BackendHealthChanged,
  type ReportBackendHealth,
} from './backend-health';

const given = specFor(backendHealthDecider);
const t = (second: number) => `2025-03-01T12:00:${String(second).padStart(2, '0')}.000Z`;

const report = (data: Partial<ReportBackendHealth['data']> = {}): ReportBackendHealth => ({
  type: 'ReportBackendHealth',
  data: { serviceId: 'svc-1', backend: 'ep-1', status: 'unhealthy', at: t(10), ...data },
});
const changed = (data: Partial<BackendHealthChanged['data']> = {}): BackendHealthChanged => ({
  type: 'BackendHealthChanged',
  data: {
    serviceId: 'svc-1',
    backend: 'ep-1',
    status: 'unhealthy',
    at: t(10),
    reason: '',
    ...data,
  },
});

describe('BackendHealth', () => {
  it('lives in stream backendhealth-<serviceId>', () => {
    expect(backendHealthStream('svc-1')).toBe('backendhealth-svc-1');
  });

  it('records a backend going unhealthy, with the checker time and reason', () => {
    const state = given([])
      .when(report({ reason: 'connect refused' }))
      .then([changed({ reason: 'connect refused' })]);
    expect(isBackendHealthy(state, 'ep-1')).toBe(false);
    expect(isBackendHealthy(state, 'ep-2')).toBe(true);
  });

  it('takes a backend as healthy until told otherwise: a healthy report changes nothing', () => {
    given([])
      .when(report({ status: 'healthy' }))
      .thenNothingHappened();
    given([changed({ backend: 'ep-2' })])
      .when(report({ status: 'healthy' }))
      .thenNothingHappened();
  });

  it('records recovery, and only changes: repeating a status appends nothing', () => {
    given([changed()])
      .when(report({ at: t(11) }))
      .thenNothingHappened();
    const state = given([changed()])
      .when(report({ status: 'healthy', at: t(20) }))
      .then([changed({ status: 'healthy', at: t(20) })]);
    expect(isBackendHealthy(state, 'ep-1')).toBe(true);
  });

  it('ignores a report older than the last recorded change (the newer observation wins)', () => {
    given([changed({ at: t(30) })])
      .when(report({ status: 'healthy', at: t(20) }))
      .thenNothingHappened();
    given([changed({ at: t(30) })])
      .when(report({ status: 'healthy', at: t(30) }))
      .thenNothingHappened();
  });

  it('treats a uid like __proto__ as a plain key', () => {
    const state = given([])
      .when(report({ backend: '__proto__' }))
      .then([changed({ backend: '__proto__' })]);
    expect(isBackendHealthy(state, '__proto__')).toBe(false);
    given([])
      .when(report({ backend: '__proto__', status: 'healthy' }))
      .thenNothingHappened();
  });

  it('rejects bad ids, times, statuses and reasons, and another service on this stream', () => {
    given([])
      .when(report({ serviceId: 'a.b' }))
      .thenThrows('InvalidId', /^service id/);
    given([])
      .when(report({ backend: '' }))
      .thenThrows('InvalidId', /^backend endpoint uid/);
    given([])
      .when(report({ at: 'yesterday' }))
      .thenThrows('InvalidTimestamp');
    given([])
      .when(report({ status: 'sick' as never }))
      .thenThrows('InvalidArgument', /healthy or unhealthy/);
    given([])
      .when(report({ reason: 'x'.repeat(257) }))
      .thenThrows('InvalidArgument', /reason/);
    given([changed()])
      .when(report({ serviceId: 'svc-2' }))
      .thenThrows('InvalidArgument', /svc-1/);
  });
});
