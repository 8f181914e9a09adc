import { describe, expect, it } from '@jest/globals';
import {
  hostAddress,
  pickSubnet,
  podMac,
  POD_CANDIDATES,
  UNDERLAY_CANDIDATES,
  vtepMac,
} from './addresses';
import { labPrefix, ownedName } from './lab-state';

describe('the lab address plan', () => {
  it('takes the first candidate when the root namespace routes nothing near it', () => {
    const routes = ['default', '10.0.2.0/24', '172.17.0.0/16', '10.0.2.15'];
    expect(pickSubnet(UNDERLAY_CANDIDATES, routes, 'underlay')).toBe('192.168.200.0/24');
    expect(pickSubnet(POD_CANDIDATES, routes, 'pod')).toBe('10.244.0.0/16');
  });

  it('skips candidates a route overlaps, whether inside, equal or around them', () => {
    expect(pickSubnet(UNDERLAY_CANDIDATES, ['192.168.200.7'], 'underlay')).toBe('192.168.201.0/24');
    expect(pickSubnet(POD_CANDIDATES, ['10.244.0.0/16', '10.245.3.0/24'], 'pod')).toBe(
      '10.246.0.0/16',
    );
    expect(() => pickSubnet(UNDERLAY_CANDIDATES, ['192.168.0.0/16'], 'underlay')).toThrow(
      expect.objectContaining({ code: 'NoFreeSubnet' }),
    );
  });

  it('ignores what is not an IPv4 destination', () => {
    expect(pickSubnet(POD_CANDIDATES, ['fe80::/64', 'broadcast'], 'pod')).toBe('10.244.0.0/16');
  });

  it('derives addresses and MACs from the plan', () => {
    expect(hostAddress('192.168.200.0/24', 3)).toBe('192.168.200.3');
    expect(vtepMac('192.168.200.3')).toBe('02:00:c0:a8:c8:03');
    expect(podMac('10.244.0.12')).toBe('0a:58:0a:f4:00:0c');
  });
});

describe('lab names', () => {
  it('claims exactly its own namespaces, not those of a lab whose name extends it', () => {
    const owned = ownedName('a');
    expect(labPrefix('a')).toBe('stl-a-');
    for (const name of ['stl-a-ul', 'stl-a-n1', 'stl-a-n16', 'stl-a-n3p32']) {
      expect(owned.test(name)).toBe(true);
    }
    for (const name of ['stl-a-b-n1', 'stl-a-b-ul', 'stl-a-n1x', 'xstl-a-n1', 'stl-a-']) {
      expect(owned.test(name)).toBe(false);
    }
  });
});
