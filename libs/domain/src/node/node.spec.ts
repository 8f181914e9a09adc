import { specFor } from '../testing/given-when-then';
import {
  HEARTBEAT_RESOLUTION_MS,
  MAX_HEARTBEAT_RESOLUTION_MS,
  MIN_HEARTBEAT_RESOLUTION_MS,
  nodeDecider,
  nodeStream,
  type NodeDeregistered,
  type NodeEvent,
  type NodeMarkedDown,
  type NodeRegistered,
  type RegisterNode,
} from './node';

const given = specFor(nodeDecider);

const t = (seconds: number): string =>
  `2025-03-01T12:${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}.000Z`;

const register = (data: Partial<RegisterNode['data']> = {}): RegisterNode => ({
  type: 'RegisterNode',
  data: {
    name: 'node-1.lab',
    vtepAddress: '192.168.1.11',
    vtepMac: '52:54:00:12:34:56',
    at: t(0),
    ...data,
  },
});
const registered: NodeRegistered = {
  type: 'NodeRegistered',
  data: {
    name: 'node-1.lab',
    vtepAddress: '192.168.1.11',
    vtepMac: '52:54:00:12:34:56',
    registeredAt: t(0),
  },
};
const heartbeat = (seconds: number, resolutionMs?: number) =>
  ({
    type: 'RecordHeartbeat',
    data: {
      name: 'node-1.lab',
      at: t(seconds),
      ...(resolutionMs === undefined ? {} : { resolutionMs }),
    },
  }) as const;
const markDown = (nowSeconds: number, timeoutMs = 30_000, resolutionMs?: number) =>
  ({
    type: 'MarkNodeDown',
    data: {
      name: 'node-1.lab',
      now: t(nowSeconds),
      timeoutMs,
      ...(resolutionMs === undefined ? {} : { resolutionMs }),
    },
  }) as const;
const beatAt = (seconds: number): NodeEvent => ({
  type: 'NodeHeartbeatRecorded',
  data: { name: 'node-1.lab', at: t(seconds) },
});
const markedDown: NodeMarkedDown = {
  type: 'NodeMarkedDown',
  data: { name: 'node-1.lab', at: t(40), lastHeartbeatAt: t(0), timeoutMs: 30_000 },
};

describe('Node', () => {
  it('lives in stream node-<name>', () => {
    expect(nodeStream('node-1.lab')).toBe('node-node-1.lab');
  });

  describe('RegisterNode', () => {
    it('registers a node ready, registration counting as a heartbeat', () => {
      expect(given([]).when(register()).then([registered])).toEqual({
        status: 'ready',
        name: 'node-1.lab',
        vtepAddress: '192.168.1.11',
        vtepMac: '52:54:00:12:34:56',
        lastHeartbeatAt: t(0),
      });
    });

    it('changes nothing when a ready node registers again with the same VTEP', () => {
      given([registered])
        .when(register({ at: t(5), vtepMac: '52:54:00:12:34:56' }))
        .thenNothingHappened();
    });

    it('re-registers a node with a new VTEP', () => {
      given([registered])
        .when(register({ vtepAddress: '192.168.1.99', at: t(7) }))
        .then([
          {
            type: 'NodeRegistered',
            data: { ...registered.data, vtepAddress: '192.168.1.99', registeredAt: t(7) },
          },
        ]);
    });

    it('brings a down node back when it registers again', () => {
      const state = given([registered, markedDown])
        .when(register({ at: t(50) }))
        .then([{ type: 'NodeRegistered', data: { ...registered.data, registeredAt: t(50) } }]);
      expect(state).toMatchObject({ status: 'ready', lastHeartbeatAt: t(50) });
    });

    it('rejects invalid input', () => {
      given([])
        .when(register({ name: 'Node_1' }))
        .thenThrows('InvalidName');
      given([])
        .when(register({ name: 'a'.repeat(254) }))
        .thenThrows('InvalidName');
      given([])
        .when(register({ vtepAddress: '192.168.1' }))
        .thenThrows('InvalidIp');
      given([])
        .when(register({ vtepAddress: '224.0.0.1' }))
        .thenThrows('InvalidIp');
      given([])
        .when(register({ vtepMac: '01:00:5e:00:00:01' }))
        .thenThrows('InvalidMac', /multicast/);
      given([])
        .when(register({ at: '2025-03-01 12:00:00' }))
        .thenThrows('InvalidTimestamp');
    });
  });

  describe('RecordHeartbeat', () => {
    it(`records a heartbeat ${HEARTBEAT_RESOLUTION_MS / 1000}s or more after the last recorded one`, () => {
      given([registered])
        .when(heartbeat(10))
        .then([{ type: 'NodeHeartbeatRecorded', data: { name: 'node-1.lab', at: t(10) } }]);
    });

    it('absorbs heartbeats closer together than the resolution, and stale ones', () => {
      given([registered]).when(heartbeat(9)).thenNothingHappened();
      const beat: NodeEvent = {
        type: 'NodeHeartbeatRecorded',
        data: { name: 'node-1.lab', at: t(20) },
      };
      given([registered, beat]).when(heartbeat(20)).thenNothingHappened();
      given([registered, beat]).when(heartbeat(5)).thenNothingHappened();
    });

    it('honours the resolution the command gives', () => {
      given([registered])
        .when(heartbeat(2, 2_000))
        .then([beatAt(2)]);
      given([registered]).when(heartbeat(1, 2_000)).thenNothingHappened();
      given([registered, beatAt(2)])
        .when(heartbeat(3, MIN_HEARTBEAT_RESOLUTION_MS))
        .then([beatAt(3)]);
      given([registered]).when(heartbeat(30, 60_000)).thenNothingHappened();
      given([registered])
        .when(heartbeat(60, 60_000))
        .then([beatAt(60)]);
    });

    it(`records at ${HEARTBEAT_RESOLUTION_MS / 1000}s when the command gives no resolution`, () => {
      given([registered]).when(heartbeat(9)).thenNothingHappened();
      given([registered])
        .when(heartbeat(10))
        .then([beatAt(10)]);
      given([registered]).when(heartbeat(9, HEARTBEAT_RESOLUTION_MS)).thenNothingHappened();
    });

    it.each([
      ['below the minimum', MIN_HEARTBEAT_RESOLUTION_MS - 1],
      ['above the maximum', MAX_HEARTBEAT_RESOLUTION_MS + 1],
      ['not an integer', 1_000.5],
      ['zero', 0],
      ['not a number', '1000' as unknown as number],
    ])('rejects a resolution %s', (_case, resolutionMs) => {
      given([registered])
        .when(heartbeat(10, resolutionMs))
        .thenThrows('InvalidArgument', /heartbeat resolution/);
    });

    it('brings a down node back, whatever the resolution', () => {
      given([registered, markedDown])
        .when(heartbeat(41, MAX_HEARTBEAT_RESOLUTION_MS))
        .then([{ type: 'NodeRecovered', data: { name: 'node-1.lab', at: t(41) } }]);
    });

    it('brings a down node back', () => {
      const state = given([registered, markedDown])
        .when(heartbeat(41))
        .then([{ type: 'NodeRecovered', data: { name: 'node-1.lab', at: t(41) } }]);
      expect(state).toEqual({
        ...given([]).when(register()).then([registered]),
        lastHeartbeatAt: t(41),
      });
    });

    it('does not bring a node back on a heartbeat older than its last one', () => {
      given([registered, markedDown]).when(heartbeat(0)).thenNothingHappened();
    });

    it('needs a registered node and a valid time', () => {
      given([]).when(heartbeat(10)).thenThrows('NotFound', 'node node-1.lab is not registered');
      given([registered])
        .when({ type: 'RecordHeartbeat', data: { name: 'node-1.lab', at: '2025-02-30T00:00:00Z' } })
        .thenThrows('InvalidTimestamp', /not a valid time/);
    });
  });

  describe('MarkNodeDown', () => {
    it('marks a node down when it has been silent for the timeout', () => {
      const state = given([registered]).when(markDown(40)).then([markedDown]);
      expect(state).toMatchObject({ status: 'down', downAt: t(40) });
      given([registered])
        .when(markDown(30))
        .then([{ ...markedDown, data: { ...markedDown.data, at: t(30) } }]);
    });

    it('changes nothing while heartbeats are recent', () => {
      given([registered]).when(markDown(29)).thenNothingHappened();
      given([
        registered,
        { type: 'NodeHeartbeatRecorded', data: { name: 'node-1.lab', at: t(20) } },
      ])
        .when(markDown(40))
        .thenNothingHappened();
    });

    it('is idempotent for a node already down', () => {
      given([registered, markedDown]).when(markDown(90)).thenNothingHappened();
    });

    it('takes a timeout above the resolution the command gives', () => {
      given([registered])
        .when(markDown(1, 500, 200))
        .then([{ ...markedDown, data: { ...markedDown.data, at: t(1), timeoutMs: 500 } }]);
      given([registered, beatAt(1)])
        .when(markDown(1, 500, 200))
        .thenNothingHappened();
      given([registered])
        .when(markDown(40, 5_000, 1_000))
        .then([{ ...markedDown, data: { ...markedDown.data, timeoutMs: 5_000 } }]);
    });

    it('needs a timeout above the resolution the command gives', () => {
      given([registered])
        .when(markDown(40, 2_000, 2_000))
        .thenThrows('InvalidArgument', /above the heartbeat resolution \(2000\)/);
      given([registered])
        .when(markDown(40, 60_000, 60_001))
        .thenThrows('InvalidArgument', /resolution \(60001\)/);
      given([registered])
        .when(markDown(40, 30_000, MIN_HEARTBEAT_RESOLUTION_MS - 1))
        .thenThrows('InvalidArgument', /heartbeat resolution must be/);
    });

    it('needs a timeout above the heartbeat resolution', () => {
      given([registered])
        .when(markDown(40, HEARTBEAT_RESOLUTION_MS))
        .thenThrows('InvalidArgument', /resolution \(10000\)/);
      given([registered])
        .when(markDown(40, 5_000))
        .thenThrows('InvalidArgument', /resolution/);
      given([registered])
        .when(markDown(40, 1.5e4 + 0.5))
        .thenThrows('InvalidArgument');
    });

    it('needs a registered node and a valid time', () => {
      given([]).when(markDown(40)).thenThrows('NotFound');
      given([registered])
        .when({ type: 'MarkNodeDown', data: { name: 'node-1.lab', now: 'now', timeoutMs: 30_000 } })
        .thenThrows('InvalidTimestamp');
    });
  });

  describe('DeregisterNode', () => {
    const deregister = { type: 'DeregisterNode', data: { name: 'node-1.lab' } } as const;
    const deregistered: NodeDeregistered = {
      type: 'NodeDeregistered',
      data: { name: 'node-1.lab' },
    };

    it('deregisters a ready or a down node', () => {
      expect(given([registered]).when(deregister).then([deregistered])).toEqual({
        status: 'deregistered',
        name: 'node-1.lab',
      });
      given([registered, markedDown]).when(deregister).then([deregistered]);
    });

    it('is idempotent once deregistered, and needs a registered node', () => {
      given([registered, deregistered]).when(deregister).thenNothingHappened();
      given([])
        .when(deregister)
        .thenThrows('NotFound', /not registered/);
    });

    it('takes no heartbeat nor mark-down from a deregistered node', () => {
      given([registered, deregistered])
        .when(heartbeat(30))
        .thenThrows('NotFound', /deregistered/);
      given([registered, deregistered])
        .when(markDown(90))
        .thenThrows('NotFound', /deregistered/);
    });

    it('lets the host register again under its name', () => {
      given([registered, deregistered])
        .when(register({ at: t(60) }))
        .then([{ ...registered, data: { ...registered.data, registeredAt: t(60) } }]);
    });
  });
});
