import { specFor } from '../testing/given-when-then';
import {
  serviceDecider,
  serviceStream,
  type CreateService,
  type ServiceCreated,
  type ServiceDeleted,
  type UpdateService,
} from './service';

const given = specFor(serviceDecider);

const create = (data: Partial<CreateService['data']> = {}): CreateService => ({
  type: 'CreateService',
  data: {
    serviceId: 'svc-1',
    name: 'web',
    vip: '10.96.0.10',
    ports: [
      { protocol: 'UDP', port: 53, targetPort: 5353 },
      { protocol: 'TCP', port: 80, targetPort: 8080 },
    ],
    selector: { tier: 'web' },
    ...data,
  },
});
const created: ServiceCreated = {
  type: 'ServiceCreated',
  data: {
    serviceId: 'svc-1',
    name: 'web',
    vip: '10.96.0.10',
    ports: [
      { protocol: 'TCP', port: 80, targetPort: 8080 },
      { protocol: 'UDP', port: 53, targetPort: 5353 },
    ],
    selector: { tier: 'web' },
    backends: [],
  },
};
const deleted: ServiceDeleted = { type: 'ServiceDeleted', data: { serviceId: 'svc-1' } };
const update = (data: Partial<UpdateService['data']>): UpdateService => ({
  type: 'UpdateService',
  data: { serviceId: 'svc-1', ...data },
});

describe('Service', () => {
  it('lives in stream service-<id>', () => {
    expect(serviceStream('svc-1')).toBe('service-svc-1');
  });

  describe('CreateService', () => {
    it('creates a service selecting backends by labels, ports sorted', () => {
      given([]).when(create()).then([created]);
    });

    it('creates a service with an explicit, sorted and unique backend list', () => {
      given([])
        .when(create({ selector: undefined, backends: ['ep-b', 'ep-a', 'ep-b'] }))
        .then([
          { ...created, data: { ...created.data, selector: {}, backends: ['ep-a', 'ep-b'] } },
        ]);
    });

    it('is idempotent, and rejects other settings for the same id', () => {
      given([created]).when(create()).thenNothingHappened();
      given([created])
        .when(create({ vip: '10.96.0.11' }))
        .thenThrows('AlreadyExists');
    });

    it('does not reuse a deleted id', () => {
      given([created, deleted])
        .when(create())
        .thenThrows('AlreadyExists', /not reused/);
    });

    it('takes a selector or a backend list, not both and not neither', () => {
      given([])
        .when(create({ backends: ['ep-a'] }))
        .thenThrows('InvalidArgument', /not both/);
      given([])
        .when(create({ selector: undefined }))
        .thenThrows('InvalidArgument', /selector or a list/);
      given([])
        .when(create({ selector: {} }))
        .thenThrows('InvalidLabels', /empty selector/);
    });

    it('rejects invalid ports', () => {
      given([])
        .when(create({ ports: [] }))
        .thenThrows('InvalidPort', /at least one port/);
      given([])
        .when(create({ ports: [{ protocol: 'TCP', port: 0, targetPort: 80 }] }))
        .thenThrows('InvalidPort');
      given([])
        .when(create({ ports: [{ protocol: 'TCP', port: 80, targetPort: 65536 }] }))
        .thenThrows('InvalidPort');
      given([])
        .when(create({ ports: [{ protocol: 'SCTP' as never, port: 80, targetPort: 80 }] }))
        .thenThrows('InvalidPort', /TCP or UDP/);
      given([])
        .when(
          create({
            ports: [
              { protocol: 'TCP', port: 80, targetPort: 80 },
              { protocol: 'TCP', port: 80, targetPort: 8080 },
            ],
          }),
        )
        .thenThrows('InvalidPort', 'port TCP/80 is listed twice');
    });

    it('rejects other invalid input', () => {
      given([])
        .when(create({ serviceId: 'svc/1' }))
        .thenThrows('InvalidId');
      given([])
        .when(create({ name: 'Web' }))
        .thenThrows('InvalidName');
      given([])
        .when(create({ vip: '10.96.0' }))
        .thenThrows('InvalidIp');
      given([])
        .when(create({ selector: { 'tier/': 'web' } }))
        .thenThrows('InvalidLabels');
      given([])
        .when(create({ selector: undefined, backends: ['ep a'] }))
        .thenThrows('InvalidId');
    });
  });

  describe('UpdateService', () => {
    it('changes ports, keeping the selection', () => {
      given([created])
        .when(update({ ports: [{ protocol: 'TCP', port: 443, targetPort: 8443 }] }))
        .then([
          {
            type: 'ServiceUpdated',
            data: {
              serviceId: 'svc-1',
              ports: [{ protocol: 'TCP', port: 443, targetPort: 8443 }],
              selector: { tier: 'web' },
              backends: [],
            },
          },
        ]);
    });

    it('switches from a selector to an explicit list', () => {
      const state = given([created])
        .when(update({ backends: ['ep-a'] }))
        .then([
          {
            type: 'ServiceUpdated',
            data: {
              serviceId: 'svc-1',
              ports: created.data.ports,
              selector: {},
              backends: ['ep-a'],
            },
          },
        ]);
      expect(state).toMatchObject({
        status: 'active',
        vip: '10.96.0.10',
        selector: {},
        backends: ['ep-a'],
      });
    });

    it('changes nothing when every value is already so', () => {
      given([created])
        .when(update({ selector: { tier: 'web' } }))
        .thenNothingHappened();
      given([created]).when(update({})).thenNothingHappened();
    });

    it('rejects both selector and list, and invalid values', () => {
      given([created])
        .when(update({ selector: { a: 'b' }, backends: [] }))
        .thenThrows('InvalidArgument');
      given([created])
        .when(update({ ports: [] }))
        .thenThrows('InvalidPort');
    });

    it('needs a live service', () => {
      given([])
        .when(update({}))
        .thenThrows('NotFound', /not found/);
      given([created, deleted])
        .when(update({}))
        .thenThrows('NotFound', /deleted/);
    });
  });

  describe('DeleteService', () => {
    const del = { type: 'DeleteService', data: { serviceId: 'svc-1' } } as const;

    it('deletes a service', () => {
      given([created]).when(del).then([deleted]);
    });

    it('is idempotent', () => {
      given([created, deleted]).when(del).thenNothingHappened();
    });

    it('needs a service', () => {
      given([]).when(del).thenThrows('NotFound');
    });
  });
});
