import { specFor } from '../testing/given-when-then';
import {
  identityOf,
  identityPoolDecider,
  identityPoolStream,
  labelSetKey,
  securityLabels,
  type AcquireIdentity,
  type IdentityAllocated,
  type IdentityReleased,
} from './identity-pool';
import type { Labels } from '../net/labels';

const given = specFor(identityPoolDecider);

const web = { app: 'shop', tier: 'web', 'strata.io/kind': 'pod', 'strata.io/segment': 'seg-1' };
const db = { app: 'shop', tier: 'db', 'strata.io/kind': 'pod', 'strata.io/segment': 'seg-1' };
const lb = { tier: 'lb', 'strata.io/kind': 'external', 'strata.io/segment': 'seg-1' };

const acquire = (labels: Labels, lastIdentity?: number): AcquireIdentity => ({
  type: 'AcquireIdentity',
  data: lastIdentity === undefined ? { labels } : { labels, lastIdentity },
});
const allocated = (labels: Labels, identity: number): IdentityAllocated => ({
  type: 'IdentityAllocated',
  data: { identity, key: labelSetKey(labels), labels: Object.fromEntries(sorted(labels)) },
});
const released = (labels: Labels, identity: number): IdentityReleased => ({
  type: 'IdentityReleased',
  data: { identity, key: labelSetKey(labels) },
});
const sorted = (labels: Labels) =>
  Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

describe('IdentityPool', () => {
  it('lives in stream identitypool-default', () => {
    expect(identityPoolStream()).toBe('identitypool-default');
  });

  describe('AcquireIdentity', () => {
    it('gives a new label set the lowest free identity from 256', () => {
      given([])
        .when(acquire(web))
        .then([allocated(web, 256)]);
      given([allocated(web, 256)])
        .when(acquire(db))
        .then([allocated(db, 257)]);
    });

    it('returns the identity a label set holds, appending nothing (keys in any order)', () => {
      const history = [allocated(web, 256), allocated(db, 257)];
      given(history).when(acquire(web)).thenNothingHappened();
      given(history)
        .when(acquire(Object.fromEntries(sorted(web).reverse())))
        .thenNothingHappened();
      const state = given(history)
        .when(acquire(lb))
        .then([allocated(lb, 258)]);
      expect(identityOf(state, web)).toBe(256);
      expect(identityOf(state, lb)).toBe(258);
    });

    it('reuses a released number, lowest first', () => {
      given([allocated(web, 256), allocated(db, 257), released(web, 256)])
        .when(acquire(lb))
        .then([allocated(lb, 256)]);
      given([allocated(web, 256), allocated(db, 257), released(web, 256), released(db, 257)])
        .when(acquire(db))
        .then([allocated(db, 256)]);
    });

    it('fails with IdentitiesExhausted when every number up to the bound is held', () => {
      given([allocated(web, 256), allocated(db, 257)])
        .when(acquire(lb, 257))
        .thenThrows('IdentitiesExhausted', /256-257/);
      // A label set that holds its identity still gets it from a full pool.
      given([allocated(web, 256), allocated(db, 257)])
        .when(acquire(db, 257))
        .thenNothingHappened();
      given([allocated(web, 256), allocated(db, 257), released(web, 256)])
        .when(acquire(lb, 257))
        .then([allocated(lb, 256)]);
    });

    it('rejects labels that are not valid, an empty set, and a bound outside 256-65535', () => {
      given([])
        .when(acquire({ 'bad key!': 'x' }))
        .thenThrows('InvalidLabels');
      given([]).when(acquire({})).thenThrows('InvalidLabels', /empty/);
      given([]).when(acquire(web, 255)).thenThrows('InvalidArgument');
      given([]).when(acquire(web, 65_536)).thenThrows('InvalidArgument');
    });
  });

  describe('ReleaseIdentity', () => {
    it('releases an identity still held by its key', () => {
      const state = given([allocated(web, 256)])
        .when({ type: 'ReleaseIdentity', data: { identity: 256, key: labelSetKey(web) } })
        .then([released(web, 256)]);
      expect(identityOf(state, web)).toBeUndefined();
    });

    it('is idempotent, and ignores a number that has gone to another key since', () => {
      given([allocated(web, 256), released(web, 256)])
        .when({ type: 'ReleaseIdentity', data: { identity: 256, key: labelSetKey(web) } })
        .thenNothingHappened();
      given([allocated(web, 256), released(web, 256), allocated(db, 256)])
        .when({ type: 'ReleaseIdentity', data: { identity: 256, key: labelSetKey(web) } })
        .thenNothingHappened();
      given([])
        .when({ type: 'ReleaseIdentity', data: { identity: 2, key: 'x=y' } })
        .thenThrows('InvalidArgument');
    });
  });
});

describe('securityLabels', () => {
  const endpoint = { segmentId: 'seg-1', kind: 'pod' };

  it.each<{ name: string; labels: Labels; expected: Labels }>([
    {
      name: 'adds the segment and the kind',
      labels: { tier: 'web' },
      expected: { 'strata.io/kind': 'pod', 'strata.io/segment': 'seg-1', tier: 'web' },
    },
    {
      name: 'drops the keys that change per replica',
      labels: {
        tier: 'web',
        'pod-template-hash': '5d8f7c',
        'controller-revision-hash': 'abc',
        'pod-template-generation': '3',
        'statefulset.kubernetes.io/pod-name': 'db-0',
        'apps.kubernetes.io/pod-index': '0',
      },
      expected: { 'strata.io/kind': 'pod', 'strata.io/segment': 'seg-1', tier: 'web' },
    },
    {
      name: 'keeps the namespace labels the creator set',
      labels: { 'strata.io/namespace': 'shop', 'ns.strata.io/team': 'a' },
      expected: {
        'ns.strata.io/team': 'a',
        'strata.io/kind': 'pod',
        'strata.io/namespace': 'shop',
        'strata.io/segment': 'seg-1',
      },
    },
  ])('$name', ({ labels, expected }) => {
    const security = securityLabels(labels, endpoint);
    expect(security).toEqual(expected);
    expect(Object.keys(security)).toEqual(Object.keys(expected).sort());
  });

  it('gives replicas of one workload the same key', () => {
    expect(labelSetKey(securityLabels({ app: 'a', 'pod-template-hash': '1' }, endpoint))).toBe(
      labelSetKey(securityLabels({ 'pod-template-hash': '2', app: 'a' }, endpoint)),
    );
    expect(labelSetKey(securityLabels({ app: 'a' }, endpoint))).not.toBe(
      labelSetKey(securityLabels({ app: 'a' }, { ...endpoint, segmentId: 'seg-2' })),
    );
  });

  it.each(['strata.io/segment', 'strata.io/kind'])('rejects a user label %s', (key) => {
    expect(() => securityLabels({ [key]: 'x' }, endpoint)).toThrow(
      expect.objectContaining({ code: 'InvalidLabels' }),
    );
  });
});

describe('labelSetKey', () => {
  it('is key=value pairs in key order, joined by commas', () => {
    expect(labelSetKey({ tier: 'web', app: 'shop', 'a.io/x': '' })).toBe(
      'a.io/x=,app=shop,tier=web',
    );
    expect(labelSetKey({})).toBe('');
  });
});
