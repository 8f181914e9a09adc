import { specFor } from '../testing/given-when-then';
import {
  segmentDecider,
  segmentStream,
  type CreateSegment,
  type SegmentCreated,
  type SegmentDeleted,
} from './segment';

const given = specFor(segmentDecider);

const create = (data: Partial<CreateSegment['data']> = {}): CreateSegment => ({
  type: 'CreateSegment',
  data: {
    segmentId: 'seg-1',
    name: 'blue',
    vni: 100,
    subnets: ['10.1.0.0/16'],
    federated: false,
    ...data,
  },
});
const created: SegmentCreated = {
  type: 'SegmentCreated',
  data: { segmentId: 'seg-1', name: 'blue', vni: 100, subnets: ['10.1.0.0/16'], federated: false },
};
const deleted: SegmentDeleted = { type: 'SegmentDeleted', data: { segmentId: 'seg-1' } };

describe('Segment', () => {
  it('lives in stream segment-<id>', () => {
    expect(segmentStream('seg-1')).toBe('segment-seg-1');
  });

  describe('CreateSegment', () => {
    it('creates a segment', () => {
      given([]).when(create()).then([created]);
    });

    it('keeps subnets sorted by address so equal sets compare equal', () => {
      given([])
        .when(create({ subnets: ['10.2.0.0/16', '10.1.0.0/24', '192.168.0.0/24'] }))
        .then([
          {
            ...created,
            data: { ...created.data, subnets: ['10.1.0.0/24', '10.2.0.0/16', '192.168.0.0/24'] },
          },
        ]);
    });

    it('is idempotent: the same create again changes nothing', () => {
      given([created]).when(create()).thenNothingHappened();
      given([created])
        .when(create({ subnets: ['10.1.0.0/16'] }))
        .thenNothingHappened();
    });

    it('rejects a create with other settings for an existing id', () => {
      given([created])
        .when(create({ vni: 101 }))
        .thenThrows('AlreadyExists', /other settings/);
    });

    it('does not reuse the id of a deleted segment', () => {
      given([created, deleted])
        .when(create())
        .thenThrows('AlreadyExists', /deleted/);
    });

    it('rejects subnets that overlap each other, naming them', () => {
      given([])
        .when(create({ subnets: ['10.1.0.0/16', '10.1.128.0/24'] }))
        .thenThrows('OverlappingCidr', '10.1.0.0/16 and 10.1.128.0/24 overlap');
      given([])
        .when(create({ subnets: ['10.1.0.0/24', '10.1.0.0/24'] }))
        .thenThrows('OverlappingCidr');
    });

    it('rejects invalid input with a typed error', () => {
      given([])
        .when(create({ segmentId: 'a.b' }))
        .thenThrows('InvalidId');
      given([])
        .when(create({ name: 'Blue_Net' }))
        .thenThrows('InvalidName');
      given([])
        .when(create({ vni: 0 }))
        .thenThrows('InvalidVni');
      given([])
        .when(create({ vni: 16_777_216 }))
        .thenThrows('InvalidVni');
      given([])
        .when(create({ subnets: [] }))
        .thenThrows('InvalidCidr', /at least one subnet/);
      given([])
        .when(create({ subnets: ['10.1.0.1/16'] }))
        .thenThrows('InvalidCidr', /10.1.0.0\/16/);
      given([])
        .when(create({ federated: 'yes' as unknown as boolean }))
        .thenThrows('InvalidArgument');
    });
  });

  describe('UpdateSegment', () => {
    it('records every mutable field with its new value', () => {
      given([created])
        .when({
          type: 'UpdateSegment',
          data: { segmentId: 'seg-1', name: 'navy', federated: true },
        })
        .then([
          {
            type: 'SegmentUpdated',
            data: { segmentId: 'seg-1', name: 'navy', subnets: ['10.1.0.0/16'], federated: true },
          },
        ]);
    });

    it('replaces the subnets, which must still not overlap', () => {
      const state = given([created])
        .when({
          type: 'UpdateSegment',
          data: { segmentId: 'seg-1', subnets: ['10.1.0.0/16', '10.9.0.0/16'] },
        })
        .then([
          {
            type: 'SegmentUpdated',
            data: {
              segmentId: 'seg-1',
              name: 'blue',
              subnets: ['10.1.0.0/16', '10.9.0.0/16'],
              federated: false,
            },
          },
        ]);
      expect(state).toMatchObject({
        status: 'active',
        vni: 100,
        subnets: ['10.1.0.0/16', '10.9.0.0/16'],
      });
      given([created])
        .when({
          type: 'UpdateSegment',
          data: { segmentId: 'seg-1', subnets: ['10.0.0.0/8', '10.1.0.0/16'] },
        })
        .thenThrows('OverlappingCidr');
    });

    it('changes nothing when every value is already so', () => {
      given([created])
        .when({
          type: 'UpdateSegment',
          data: { segmentId: 'seg-1', name: 'blue', subnets: ['10.1.0.0/16'] },
        })
        .thenNothingHappened();
    });

    it('needs an existing segment', () => {
      const update = { type: 'UpdateSegment', data: { segmentId: 'seg-1', name: 'navy' } } as const;
      given([]).when(update).thenThrows('NotFound', 'segment seg-1 not found');
      given([created, deleted])
        .when(update)
        .thenThrows('NotFound', /deleted/);
    });

    it('rejects an invalid new name', () => {
      given([created])
        .when({ type: 'UpdateSegment', data: { segmentId: 'seg-1', name: '-navy' } })
        .thenThrows('InvalidName');
    });
  });

  describe('DeleteSegment', () => {
    const del = { type: 'DeleteSegment', data: { segmentId: 'seg-1' } } as const;

    it('deletes a segment', () => {
      expect(given([created]).when(del).then([deleted])).toEqual({
        status: 'deleted',
        segmentId: 'seg-1',
      });
    });

    it('is idempotent', () => {
      given([created, deleted]).when(del).thenNothingHappened();
    });

    it('needs an existing segment', () => {
      given([]).when(del).thenThrows('NotFound');
    });
  });
});
