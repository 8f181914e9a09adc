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
        data: { uid: 'ext-db', kind: 'external', segmentId: 'seg-1', ip: '192.168.10.20' },
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
            },
          },
        ]);
      given([])
        .when({ ...external, data: { ...external.data, node: 'node-1' } })
        .thenThrows('InvalidArgument', /cannot be on a node/);
    });

    it('is idempotent, and rejects other settings for the same uid', () => {
      given([podCreated]).when(createPod()).thenNothingHappened();
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
    const update = (labels: Record<string, string>) =>
      ({ type: 'UpdateEndpointLabels', data: { uid, labels } }) as const;

    it('records the complete new label set', () => {
      given([podCreated])
        .when(update({ tier: 'api' }))
        .then([{ type: 'EndpointLabelsUpdated', data: { uid, labels: { tier: 'api' } } }]);
    });

    it('changes nothing when the labels are the same, in any key order', () => {
      given([podCreated])
        .when(update({ tier: 'web', 'app.kubernetes.io/name': 'shop' }))
        .thenNothingHappened();
    });

    it('rejects invalid labels', () => {
      given([podCreated])
        .when(update({ 'bad/key/x': 'v' }))
        .thenThrows('InvalidLabels');
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
