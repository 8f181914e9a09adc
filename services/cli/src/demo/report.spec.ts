import type { AgentDataplaneCounters } from '@strata/bus';
import { emptyTables } from '@strata/forwarding';
import { countersTable, forwardingTable, pingPassed, pingTable, trafficTable } from './report';

const n1p1 = { name: 'n1p1', node: 'n1', uid: 'lab-n1p1', ip: '10.244.0.2' };
const n2p1 = { name: 'n2p1', node: 'n2', uid: 'lab-n2p1', ip: '10.244.0.4' };

const counters = (
  stats: AgentDataplaneCounters['stats'],
  drops: AgentDataplaneCounters['drops'] = {},
  traffic: AgentDataplaneCounters['traffic'] = [],
): AgentDataplaneCounters => ({ stats, drops, traffic });

describe('the lab demo report', () => {
  it('passes a ping only when every packet came back', () => {
    const rtt = { min: 0.1, avg: 0.2, max: 0.3 };
    expect(pingPassed({ transmitted: 3, received: 3, lossPercent: 0, rtt })).toBe(true);
    expect(pingPassed({ transmitted: 3, received: 2, lossPercent: 33, rtt })).toBe(false);
    expect(pingPassed({ transmitted: 0, received: 0, lossPercent: 0, rtt: null })).toBe(false);
    expect(pingPassed({ error: 'connect: Network is unreachable' })).toBe(false);
  });

  it('shows each ping with its path, loss and round-trip times, or why it failed', () => {
    expect(
      pingTable([
        {
          from: n1p1,
          to: n2p1,
          result: {
            transmitted: 3,
            received: 3,
            lossPercent: 0,
            rtt: { min: 0.061, avg: 0.08, max: 0.1 },
          },
        },
        { from: n2p1, to: n1p1, result: { error: 'unreachable' } },
      ]),
    ).toBe(
      [
        'FROM  TO               PATH              RECEIVED  LOSS  RTT MIN/AVG/MAX',
        'n1p1  n2p1 10.244.0.4  n1 -> n2 (VXLAN)  3/3       0%    0.061/0.080/0.100 ms',
        'n2p1  n1p1 10.244.0.2  n2 -> n1 (VXLAN)  -         -     FAILED: unreachable',
      ].join('\n'),
    );
  });

  it('lists local endpoints, remote endpoints with their VTEP, and the VTEPs', () => {
    const tables = emptyTables();
    tables.local.set('10.244.0.2', {
      uid: 'lab-n1p1',
      interfaceName: 'stabc',
      mac: '0a:58:0a:f4:00:02',
      vni: 1,
      identity: 7,
    });
    tables.remote.set('10.244.0.4', {
      uid: 'lab-n2p1',
      node: 'n2',
      vtepAddress: '192.168.200.2',
      vtepMac: '02:00:c0:a8:c8:02',
      mac: '0a:58:0a:f4:00:04',
      vni: 1,
      identity: 9,
    });
    tables.vteps.set('n2', { address: '192.168.200.2', mac: '02:00:c0:a8:c8:02' });
    expect(forwardingTable(tables, (uid) => uid.replace('lab-', ''))).toBe(
      [
        'TABLE   KEY         POD   VIA                    MAC                VNI  IDENTITY',
        'local   10.244.0.2  n1p1  veth stabc             0a:58:0a:f4:00:02  1    7',
        'remote  10.244.0.4  n2p1  VTEP n2 192.168.200.2  0a:58:0a:f4:00:04  1    9',
        'vtep    n2          -     192.168.200.2          02:00:c0:a8:c8:02  -    -',
      ].join('\n'),
    );
  });

  it('shows the overlay counters first, then every other outcome and every drop', () => {
    expect(
      countersTable([
        {
          node: 'n1',
          counters: counters(
            { encapsulated: 10, decapsulated: 9, arp_replied: 1, pass_not_overlay: 2 },
            { spoofed_ip: 4 },
          ),
        },
        { node: 'n2', counters: null },
      ]),
    ).toBe(
      [
        'NODE  ENCAPSULATED  DECAPSULATED  FORWARDED LOCAL  ARP REPLIED  OTHER                       DROPS',
        'n1    10            9             0                1            pass_not_overlay=2          spoofed_ip=4',
        'n2    -             -             -                -            (the agent did not answer)  -',
      ].join('\n'),
    );
  });

  it('names identity pairs by pod, where a flow left before where it arrived', () => {
    const flow = { srcIdentity: 7, dstIdentity: 9, packets: 3, bytes: 294 };
    expect(
      trafficTable(
        [
          { node: 'n2', counters: counters({}, {}, [{ ...flow, direction: 'from_overlay' }]) },
          { node: 'n1', counters: counters({}, {}, [{ ...flow, direction: 'from_pod' }]) },
        ],
        (identity) => (identity === 7 ? 'n1p1' : identity === 9 ? 'n2p1' : 'world'),
      ),
    ).toBe(
      [
        'SOURCE    DESTINATION  NODE  DIRECTION     PACKETS  BYTES',
        'n1p1 (7)  n2p1 (9)     n1    from_pod      3        294',
        'n1p1 (7)  n2p1 (9)     n2    from_overlay  3        294',
      ].join('\n'),
    );
  });
});
