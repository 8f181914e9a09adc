import { specFor } from '../testing/given-when-then';
import {
  endpointDecider,
  endpointStream,
  type CreateEndpoint,
  type EndpointCreated,
  type EndpointDeleted,
} from './endpoint';

const given = specFor(endpointDecider);

const createPod = (data: Partial<CreateEndpoint['data']> = {}): CreateEndpoint => ({
  type: 'CreateEndpoint',
  data: {
    uid: 'c0ffee00-0000-4000-8000-000000000001',
    kind: 'pod',
    segmentId: 'seg-1',
    node: 'node-1.lab',
    ip: '10.1.0.5',
    mac: '0A:58:0A:01:00:05',
    labels: { tier: 'web', 'app.kubernetes.io/name': 'shop' },
    identity: 256,
    ...data,
  },
});
const podCreated: EndpointCreated = {
  type: 'EndpointCreated',
  data: {
    uid: 'c0ffee00-0000-4000-8000-000000000001',
    kind: 'pod',
    segmentId: 'seg-1',
    node: 'node-1.lab',
    ip: '10.1.0.5',
    mac: '0a:58:0a:01:00:05',
    labels: { 'app.kubernetes.io/name': 'shop', tier: 'web' },
    identity: 256,
    namedPorts: [],
  },
};
const uid = podCreated.data.uid;
const deleted: EndpointDeleted = { type: 'EndpointDeleted', data: { uid } };

describe('Endpoint', () => {
  it('lives in stream endpoint-<uid>', () => {
    expect(endpointStream(uid)).toBe(`endpoint-${uid}`);
  });

  describe('CreateEndpoint', () => {
    it('creates a pod endpoint, MAC lowercased and labels in key order', () => {
      const state = given([]).when(createPod()).then([podCreated]);
      expect(Object.keys(state.status === 'active' ? state.labels : {})).toEqual([
        'app.kubernetes.io/name',
        'tier',
      ]);
    });

    it('creates an external endpoint with no node, its MAC optional', () => {
      const external = {
        type: 'CreateEndpoint',
        data: {
          uid: 'ext-db',
          kind: 'external',
          segmentId: 'seg-1',
          ip: '192.168.10.20',
          identity: 300,
        },
      } as const;
      given([])
        .when(external)
        .then([
          {
            type: 'EndpointCreated',
            data: {
              uid: 'ext-db',
              kind: 'external',
              segmentId: 'seg-1',
              node: '',
              ip: '192.168.10.20',
              mac: '',
              labels: {},
              identity: 300,
              namedPorts: [],
            },
          },
        ]);
      given([])
        .when({ ...external, data: { ...external.data, node: 'node-1' } })
        .thenThrows('InvalidArgument', /cannot be on a node/);
    });

    it('records named ports sorted by name', () => {
      given([])
        .when(
          createPod({
            namedPorts: [
              { name: 'metrics', protocol: 'TCP', port: 9090 },
              { name: 'dns', protocol: 'UDP', port: 53 },
              { name: 'h2c', protocol: 'SCTP', port: 8443 },
            ],
          }),
        )
        .then([
          {
            ...podCreated,
            data: {
              ...podCreated.data,
              namedPorts: [
                { name: 'dns', protocol: 'UDP', port: 53 },
                { name: 'h2c', protocol: 'SCTP', port: 8443 },
                { name: 'metrics', protocol: 'TCP', port: 9090 },
              ],
            },
          },
        ]);
    });

    it.each([
      {
        name: 'a name with uppercase',
        port: { name: 'Http', protocol: 'TCP', port: 80 },
        code: 'InvalidName',
      },
      {
        name: 'a name of 16 characters',
        port: { name: 'a'.repeat(16), protocol: 'TCP', port: 80 },
        code: 'InvalidName',
      },
      {
        name: 'a name without a letter',
        port: { name: '8080', protocol: 'TCP', port: 80 },
        code: 'InvalidName',
      },
      {
        name: "a name with '--'",
        port: { name: 'a--b', protocol: 'TCP', port: 80 },
        code: 'InvalidName',
      },
      {
        name: "a name ending in '-'",
        port: { name: 'web-', protocol: 'TCP', port: 80 },
        code: 'InvalidName',
      },
      {
        name: 'an unknown protocol',
        port: { name: 'web', protocol: 'ICMP', port: 80 },
        code: 'InvalidPort',
      },
      { name: 'port 0', port: { name: 'web', protocol: 'TCP', port: 0 }, code: 'InvalidPort' },
      {
        name: 'port 65536',
        port: { name: 'web', protocol: 'TCP', port: 65_536 },
        code: 'InvalidPort',
      },
    ] as const)('rejects a named port with $name', ({ port, code }) => {
      given([])
        .when(createPod({ namedPorts: [port as never] }))
        .thenThrows(code);
    });

    it('rejects a repeated named port name and more than 64 named ports', () => {
      given([])
        .when(
          createPod({
            namedPorts: [
              { name: 'web', protocol: 'TCP', port: 80 },
              { name: 'web', protocol: 'UDP', port: 80 },
            ],
          }),
        )
        .thenThrows('InvalidName', /twice/);
      const many = Array.from({ length: 65 }, (_, i) => ({
        name: `p${i}`,
        protocol: 'TCP' as const,
        port: 1000 + i,
      }));
      given([])
        .when(createPod({ namedPorts: many }))
        .thenThrows('InvalidArgument', /at most 64/);
      given([])
        .when(createPod({ namedPorts: many.slice(0, 64) }))
        .then([
          {
            ...podCreated,
            data: {
              ...podCreated.data,
              namedPorts: [...many.slice(0, 64)].sort((a, b) => (a.name < b.name ? -1 : 1)),
            },
          },
        ]);
    });

    it('rejects an identity that is not an allocated one, and labels Strata derives', () => {
      given([])
        .when(createPod({ identity: 2 }))
        .thenThrows('InvalidArgument', /identity/);
      given([])
        .when(createPod({ identity: undefined as never }))
        .thenThrows('InvalidArgument', /identity/);
      given([])
        .when(createPod({ labels: { 'strata.io/segment': 'seg-2' } }))
        .thenThrows('InvalidLabels', /set by Strata/);
      given([])
        .when(createPod({ labels: { 'strata.io/kind': 'external' } }))
        .thenThrows('InvalidLabels');
    });

    it('is idempotent, and rejects other settings for the same uid', () => {
      given([podCreated]).when(createPod()).thenNothingHappened();
      given([podCreated])
        .when(createPod({ namedPorts: [{ name: 'web', protocol: 'TCP', port: 80 }] }))
        .thenThrows('AlreadyExists');
      given([podCreated])
        .when(createPod({ ip: '10.1.0.6' }))
        .thenThrows('AlreadyExists');
      given([podCreated])
        .when(createPod({ labels: { tier: 'web' } }))
        .thenThrows('AlreadyExists');
    });

    it('does not reuse a deleted uid', () => {
      given([podCreated, deleted])
        .when(createPod())
        .thenThrows('AlreadyExists', /not reused/);
    });

    it('rejects invalid input', () => {
      given([])
        .when(createPod({ uid: '' }))
        .thenThrows('InvalidId');
      given([])
        .when(createPod({ kind: 'vm' as never }))
        .thenThrows('InvalidArgument', /pod or external/);
      given([])
        .when(createPod({ segmentId: 'seg 1' }))
        .thenThrows('InvalidId');
      given([])
        .when(createPod({ node: undefined }))
        .thenThrows('InvalidName');
      given([])
        .when(createPod({ node: 'Node_1' }))
        .thenThrows('InvalidName');
      given([])
        .when(createPod({ ip: '10.1.0.300' }))
        .thenThrows('InvalidIp');
      given([])
        .when(createPod({ ip: '127.0.0.1' }))
        .thenThrows('InvalidIp', /not a host address/);
      given([])
        .when(createPod({ mac: undefined }))
        .thenThrows('InvalidMac');
      given([])
        .when(createPod({ mac: 'ff:ff:ff:ff:ff:ff' }))
        .thenThrows('InvalidMac');
      given([])
        .when(createPod({ labels: { tier: 'a'.repeat(64) } }))
        .thenThrows('InvalidLabels');
      given([])
        .when(createPod({ labels: { '-tier': 'web' } }))
        .thenThrows('InvalidLabels');
    });
  });

  describe('UpdateEndpointLabels', () => {
    const update = (labels: Record<string, string>, identity = 256) =>
      ({ type: 'UpdateEndpointLabels', data: { uid, labels, identity } }) as const;

    it('records the complete new label set and its identity', () => {
      const state = given([podCreated])
        .when(update({ tier: 'api' }, 257))
        .then([
          { type: 'EndpointLabelsUpdated', data: { uid, labels: { tier: 'api' }, identity: 257 } },
        ]);
      expect(state).toMatchObject({ status: 'active', identity: 257 });
    });

    it('changes nothing when the labels and identity are the same, in any key order', () => {
      given([podCreated])
        .when(update({ tier: 'web', 'app.kubernetes.io/name': 'shop' }))
        .thenNothingHappened();
    });

    it('records a new identity for the same labels', () => {
      given([podCreated])
        .when(update({ tier: 'web', 'app.kubernetes.io/name': 'shop' }, 300))
        .then([
          {
            type: 'EndpointLabelsUpdated',
            data: { uid, labels: podCreated.data.labels, identity: 300 },
          },
        ]);
    });

    it('rejects invalid labels, derived labels and a reserved identity', () => {
      given([podCreated])
        .when(update({ 'bad/key/x': 'v' }))
        .thenThrows('InvalidLabels');
      given([podCreated])
        .when(update({ 'strata.io/segment': 'x' }))
        .thenThrows('InvalidLabels');
      given([podCreated])
        .when(update({ tier: 'api' }, 0))
        .thenThrows('InvalidArgument');
    });

    it('needs a live endpoint', () => {
      given([])
        .when(update({}))
        .thenThrows('NotFound', /not found/);
      given([podCreated, deleted])
        .when(update({}))
        .thenThrows('NotFound', /deleted/);
    });
  });

  describe('MoveEndpoint', () => {
    const move = (node: string) => ({ type: 'MoveEndpoint', data: { uid, node } }) as const;

    it('moves a pod to another node, recording where it came from', () => {
      const state = given([podCreated])
        .when(move('node-2.lab'))
        .then([
          { type: 'EndpointMoved', data: { uid, node: 'node-2.lab', previousNode: 'node-1.lab' } },
        ]);
      expect(state).toMatchObject({ status: 'active', node: 'node-2.lab' });
    });

    it('changes nothing when the pod is already there', () => {
      given([podCreated]).when(move('node-1.lab')).thenNothingHappened();
    });

    it('does not move an external endpoint', () => {
      given([
        {
          type: 'EndpointCreated',
          data: {
            uid,
            kind: 'external',
            segmentId: 'seg-1',
            node: '',
            ip: '192.168.10.20',
            mac: '',
            labels: {},
            identity: 300,
            namedPorts: [],
          },
        },
      ])
        .when(move('node-2'))
        .thenThrows('InvalidState');
    });

    it('rejects an invalid node name, and needs a live endpoint', () => {
      given([podCreated]).when(move('')).thenThrows('InvalidName');
      given([]).when(move('node-2')).thenThrows('NotFound');
    });
  });

  describe('DeleteEndpoint', () => {
    const del = { type: 'DeleteEndpoint', data: { uid } } as const;

    it('deletes an endpoint', () => {
      given([podCreated]).when(del).then([deleted]);
    });

    it('is idempotent', () => {
      given([podCreated, deleted]).when(del).thenNothingHappened();
    });

    it('needs an endpoint', () => {
      given([]).when(del).thenThrows('NotFound');
    });
  });
});
