import { specFor } from '../testing/given-when-then';
import { addressSpaceDecider, addressSpaceStream, type CidrClaimed } from './address-space';

const given = specFor(addressSpaceDecider);

const claim = (owner: string, cidr: string) =>
  ({ type: 'ClaimCidr', data: { spaceId: 'global', owner, cidr } }) as const;
const claimed = (owner: string, cidr: string): CidrClaimed => ({
  type: 'CidrClaimed',
  data: { spaceId: 'global', owner, cidr },
});
const release = (owner: string) =>
  ({ type: 'ReleaseCidr', data: { spaceId: 'global', owner } }) as const;

describe('AddressSpace', () => {
  it('lives in stream addrspace-<id>', () => {
    expect(addressSpaceStream('global')).toBe('addrspace-global');
  });

  describe('ClaimCidr', () => {
    it('claims a CIDR for a pool', () => {
      given([])
        .when(claim('pods', '10.0.0.0/16'))
        .then([claimed('pods', '10.0.0.0/16')]);
      given([claimed('pods', '10.0.0.0/16')])
        .when(claim('vips', '10.96.0.0/24'))
        .then([claimed('vips', '10.96.0.0/24')]);
    });

    it('is idempotent', () => {
      given([claimed('pods', '10.0.0.0/16')])
        .when(claim('pods', '10.0.0.0/16'))
        .thenNothingHappened();
    });

    it('rejects a CIDR that overlaps another pool’s, naming it', () => {
      given([claimed('pods', '10.0.0.0/16')])
        .when(claim('more-pods', '10.0.128.0/17'))
        .thenThrows('OverlappingCidr', '10.0.128.0/17 overlaps 10.0.0.0/16, claimed by pods');
      given([claimed('pods', '10.0.0.0/16')])
        .when(claim('all', '10.0.0.0/8'))
        .thenThrows('OverlappingCidr');
    });

    it('rejects a second, different CIDR for the same owner', () => {
      given([claimed('pods', '10.0.0.0/16')])
        .when(claim('pods', '10.1.0.0/16'))
        .thenThrows('AlreadyExists', 'pods already claims 10.0.0.0/16');
    });

    it('rejects invalid input', () => {
      given([]).when(claim('pods', '10.0.0.1/16')).thenThrows('InvalidCidr');
      given([]).when(claim('', '10.0.0.0/16')).thenThrows('InvalidId');
    });
  });

  describe('ReleaseCidr', () => {
    it('releases a claim, after which the CIDR can be claimed again', () => {
      const released = {
        type: 'CidrReleased',
        data: { spaceId: 'global', owner: 'pods', cidr: '10.0.0.0/16' },
      } as const;
      given([claimed('pods', '10.0.0.0/16')])
        .when(release('pods'))
        .then([released]);
      given([claimed('pods', '10.0.0.0/16'), released])
        .when(claim('pods-2', '10.0.0.0/16'))
        .then([claimed('pods-2', '10.0.0.0/16')]);
    });

    it('is idempotent', () => {
      given([]).when(release('pods')).thenNothingHappened();
    });
  });
});
