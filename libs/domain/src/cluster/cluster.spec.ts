import { specFor } from '../testing/given-when-then';
import {
  clusterDecider,
  clusterStream,
  type ClusterConnected,
  type ClusterDisconnected,
  type ClusterRegistered,
  type ClusterRemoved,
  type RegisterCluster,
} from './cluster';

const given = specFor(clusterDecider);

const register = (data: Partial<RegisterCluster['data']> = {}): RegisterCluster => ({
  type: 'RegisterCluster',
  data: {
    clusterId: 'east',
    name: 'east',
    url: 'tls://GW.East.example.com:7222',
    link: 'gateway',
    ...data,
  },
});
const registered: ClusterRegistered = {
  type: 'ClusterRegistered',
  data: { clusterId: 'east', name: 'east', url: 'tls://gw.east.example.com:7222', link: 'gateway' },
};
const connected: ClusterConnected = {
  type: 'ClusterConnected',
  data: { clusterId: 'east', at: '2025-03-01T12:00:00.000Z' },
};
const disconnected: ClusterDisconnected = {
  type: 'ClusterDisconnected',
  data: { clusterId: 'east', at: '2025-03-01T12:05:00.000Z', reason: 'gateway connection closed' },
};
const removed: ClusterRemoved = { type: 'ClusterRemoved', data: { clusterId: 'east' } };
const reportConnected = (at: string) =>
  ({ type: 'ReportClusterConnected', data: { clusterId: 'east', at } }) as const;
const reportDisconnected = (at: string, reason = 'gateway connection closed') =>
  ({ type: 'ReportClusterDisconnected', data: { clusterId: 'east', at, reason } }) as const;

describe('Cluster', () => {
  it('lives in stream cluster-<id>', () => {
    expect(clusterStream('east')).toBe('cluster-east');
  });

  describe('RegisterCluster', () => {
    it('registers a cluster, pending until its link is reported up', () => {
      expect(given([]).when(register()).then([registered])).toMatchObject({ status: 'pending' });
    });

    it('is idempotent, and rejects other settings for the same id', () => {
      given([registered]).when(register()).thenNothingHappened();
      given([registered, connected]).when(register()).thenNothingHappened();
      given([registered])
        .when(register({ link: 'leaf' }))
        .thenThrows('AlreadyExists');
    });

    it('does not reuse a removed id', () => {
      given([registered, removed])
        .when(register())
        .thenThrows('AlreadyExists', /not reused/);
    });

    it('rejects invalid input, and credentials in the URL', () => {
      given([])
        .when(register({ clusterId: '' }))
        .thenThrows('InvalidId');
      given([])
        .when(register({ name: 'East' }))
        .thenThrows('InvalidName');
      given([])
        .when(register({ link: 'route' as never }))
        .thenThrows('InvalidArgument', /gateway or leaf/);
      given([])
        .when(register({ url: 'http://gw.east:7222' }))
        .thenThrows('InvalidUrl', /scheme/);
      given([])
        .when(register({ url: 'nats://admin:s3cret@gw.east:7222' }))
        .thenThrows('InvalidUrl', /credentials/);
    });
  });

  describe('UpdateCluster', () => {
    it('renames a cluster, keeping the link state', () => {
      const state = given([registered, connected])
        .when({ type: 'UpdateCluster', data: { clusterId: 'east', name: 'east-1' } })
        .then([{ type: 'ClusterUpdated', data: { ...registered.data, name: 'east-1' } }]);
      expect(state).toMatchObject({ status: 'connected', name: 'east-1' });
    });

    it('makes the link pending again when the URL changes', () => {
      const state = given([registered, connected])
        .when({
          type: 'UpdateCluster',
          data: { clusterId: 'east', url: 'nats-leaf://10.0.0.7:7422', link: 'leaf' },
        })
        .then([
          {
            type: 'ClusterUpdated',
            data: {
              clusterId: 'east',
              name: 'east',
              url: 'nats-leaf://10.0.0.7:7422',
              link: 'leaf',
            },
          },
        ]);
      expect(state).toMatchObject({ status: 'pending', link: 'leaf' });
    });

    it('changes nothing when every value is already so', () => {
      given([registered])
        .when({
          type: 'UpdateCluster',
          data: { clusterId: 'east', url: 'tls://gw.east.example.com:7222' },
        })
        .thenNothingHappened();
    });

    it('rejects an invalid URL, and needs a live cluster', () => {
      given([registered])
        .when({ type: 'UpdateCluster', data: { clusterId: 'east', url: 'nats://gw.east:70000' } })
        .thenThrows('InvalidUrl', /port/);
      given([])
        .when({ type: 'UpdateCluster', data: { clusterId: 'east', name: 'x' } })
        .thenThrows('NotFound');
      given([registered, removed])
        .when({ type: 'UpdateCluster', data: { clusterId: 'east', name: 'x' } })
        .thenThrows('NotFound', /removed/);
    });
  });

  describe('link reports', () => {
    it('records the link coming up and going down', () => {
      given([registered]).when(reportConnected(connected.data.at)).then([connected]);
      const state = given([registered, connected])
        .when(reportDisconnected(disconnected.data.at))
        .then([disconnected]);
      expect(state).toMatchObject({ status: 'disconnected', reason: 'gateway connection closed' });
      given([registered, connected, disconnected])
        .when(reportConnected('2025-03-01T12:06:00.000Z'))
        .then([
          { type: 'ClusterConnected', data: { clusterId: 'east', at: '2025-03-01T12:06:00.000Z' } },
        ]);
    });

    it('records a first connection attempt that failed', () => {
      given([registered])
        .when(reportDisconnected('2025-03-01T11:00:00Z', 'connection refused'))
        .then([
          {
            type: 'ClusterDisconnected',
            data: { clusterId: 'east', at: '2025-03-01T11:00:00Z', reason: 'connection refused' },
          },
        ]);
    });

    it('ignores repeats and reports older than the current state', () => {
      given([registered, connected])
        .when(reportConnected('2025-03-01T12:01:00.000Z'))
        .thenNothingHappened();
      given([registered, connected, disconnected])
        .when(reportDisconnected('2025-03-01T12:07:00.000Z'))
        .thenNothingHappened();
      given([registered, connected, disconnected])
        .when(reportConnected('2025-03-01T12:04:59.999Z'))
        .thenNothingHappened();
    });

    it('rejects invalid reports, and needs a live cluster', () => {
      given([registered]).when(reportConnected('yesterday')).thenThrows('InvalidTimestamp');
      given([registered])
        .when(reportDisconnected('2025-03-01T12:00:00Z', ''))
        .thenThrows('InvalidArgument');
      given([]).when(reportConnected(connected.data.at)).thenThrows('NotFound');
      given([registered, removed])
        .when(reportDisconnected(disconnected.data.at))
        .thenThrows('NotFound');
    });
  });

  describe('RemoveCluster', () => {
    const remove = { type: 'RemoveCluster', data: { clusterId: 'east' } } as const;

    it('removes a cluster', () => {
      given([registered, connected]).when(remove).then([removed]);
    });

    it('is idempotent', () => {
      given([registered, removed]).when(remove).thenNothingHappened();
    });

    it('needs a cluster', () => {
      given([]).when(remove).thenThrows('NotFound');
    });
  });
});
