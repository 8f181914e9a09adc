import { specFor } from '../testing/given-when-then';
import {
  vniOf,
  vniPoolDecider,
  vniPoolStream,
  type AllocateVni,
  type VniAllocated,
  type VniPoolCreated,
  type VniReleased,
} from './vni-pool';

const given = specFor(vniPoolDecider);

const poolCreated: VniPoolCreated = {
  type: 'VniPoolCreated',
  data: { poolId: 'default', first: 1, last: 16_777_215 },
};
const small: VniPoolCreated = {
  type: 'VniPoolCreated',
  data: { poolId: 'default', first: 100, last: 102 },
};
const allocate = (owner: string, vni?: number): AllocateVni => ({
  type: 'AllocateVni',
  data: vni === undefined ? { poolId: 'default', owner } : { poolId: 'default', owner, vni },
});
const allocated = (owner: string, vni: number): VniAllocated => ({
  type: 'VniAllocated',
  data: { poolId: 'default', vni, owner },
});
const released = (owner: string, vni: number): VniReleased => ({
  type: 'VniReleased',
  data: { poolId: 'default', vni, owner },
});

describe('VniPool', () => {
  it('lives in stream vnipool-<id>', () => {
    expect(vniPoolStream('default')).toBe('vnipool-default');
  });

  describe('CreateVniPool', () => {
    it('covers every VNI unless told a range', () => {
      given([])
        .when({ type: 'CreateVniPool', data: { poolId: 'default' } })
        .then([poolCreated]);
      given([])
        .when({ type: 'CreateVniPool', data: { poolId: 'default', first: 100, last: 102 } })
        .then([small]);
    });

    it('is idempotent, and rejects a different range for the same pool', () => {
      given([poolCreated])
        .when({ type: 'CreateVniPool', data: { poolId: 'default' } })
        .thenNothingHappened();
      given([poolCreated])
        .when({ type: 'CreateVniPool', data: { poolId: 'default', first: 5 } })
        .thenThrows('AlreadyExists');
    });

    it('rejects a range outside 1..16777215 or backwards', () => {
      given([])
        .when({ type: 'CreateVniPool', data: { poolId: 'default', first: 0 } })
        .thenThrows('InvalidVni');
      given([])
        .when({ type: 'CreateVniPool', data: { poolId: 'default', last: 16_777_216 } })
        .thenThrows('InvalidVni');
      given([])
        .when({ type: 'CreateVniPool', data: { poolId: 'default', first: 10, last: 9 } })
        .thenThrows('InvalidVni', /ends before it starts/);
    });
  });

  describe('AllocateVni', () => {
    it('hands out the lowest free VNI', () => {
      given([poolCreated])
        .when(allocate('seg-a'))
        .then([allocated('seg-a', 1)]);
      given([poolCreated, allocated('seg-a', 1), allocated('seg-b', 2), released('seg-a', 1)])
        .when(allocate('seg-c'))
        .then([allocated('seg-c', 1)]);
    });

    it('gives an owner that asks again the VNI it holds', () => {
      const history = [poolCreated, allocated('seg-a', 1)];
      given(history).when(allocate('seg-a')).thenNothingHappened();
      given(history).when(allocate('seg-a', 1)).thenNothingHappened();
      expect(
        vniOf(
          given(history)
            .when(allocate('seg-b'))
            .then([allocated('seg-b', 2)]),
          'seg-a',
        ),
      ).toBe(1);
    });

    it('takes a VNI asked for by number (a federated segment keeps its VNI across clusters)', () => {
      given([poolCreated])
        .when(allocate('seg-a', 5000))
        .then([allocated('seg-a', 5000)]);
    });

    it('rejects a VNI that another owner holds with DuplicateVni', () => {
      given([poolCreated, allocated('seg-a', 5000)])
        .when(allocate('seg-b', 5000))
        .thenThrows('DuplicateVni', 'VNI 5000 is already held by seg-a');
    });

    it('rejects asking for a second, different VNI', () => {
      given([poolCreated, allocated('seg-a', 1)])
        .when(allocate('seg-a', 7))
        .thenThrows('AlreadyExists', 'seg-a already holds VNI 1, not 7');
    });

    it('rejects a VNI outside the pool range', () => {
      given([small])
        .when(allocate('seg-a', 99))
        .thenThrows('InvalidVni', /outside pool default/);
      given([small]).when(allocate('seg-a', 0)).thenThrows('InvalidVni');
    });

    it('throws PoolExhausted when every VNI is held', () => {
      given([small, allocated('a', 100), allocated('b', 101), allocated('c', 102)])
        .when(allocate('d'))
        .thenThrows('PoolExhausted');
    });

    it('needs the pool and a valid owner', () => {
      given([]).when(allocate('seg-a')).thenThrows('NotFound');
      given([poolCreated]).when(allocate('')).thenThrows('InvalidId');
    });
  });

  describe('ReleaseVni', () => {
    const release = { type: 'ReleaseVni', data: { poolId: 'default', owner: 'seg-a' } } as const;

    it('gives the owner’s VNI back', () => {
      const state = given([poolCreated, allocated('seg-a', 1)])
        .when(release)
        .then([released('seg-a', 1)]);
      expect(vniOf(state, 'seg-a')).toBeUndefined();
    });

    it('is idempotent', () => {
      given([poolCreated, allocated('seg-a', 1), released('seg-a', 1)])
        .when(release)
        .thenNothingHappened();
      given([poolCreated]).when(release).thenNothingHappened();
    });

    it('needs the pool', () => {
      given([]).when(release).thenThrows('NotFound');
    });
  });
});
