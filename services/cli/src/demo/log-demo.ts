import {
  create,
  createRegistry,
  fromJson,
  toJson,
  type DescMessage,
  type JsonValue,
} from '@bufbuild/protobuf';
import { type EventToAppend, type RecordedEvent, SqliteEventStore } from '@strata/eventstore';
import {
  AddressAllocatedSchema,
  AddressReleasedSchema,
  EndpointCreatedSchema,
  EndpointDeletedSchema,
  file_strata_v1_network_events,
  NodeRegisteredSchema,
  PoolCreatedSchema,
  SegmentCreatedSchema,
} from '@strata/proto/network_events_pb';
import { renderTable } from '../output/table';

const registry = createRegistry(file_strata_v1_network_events);

interface DemoCommand {
  /** The command id: event ids derive from it, so re-running the demo appends nothing new. */
  readonly id: string;
  readonly actor: string;
  readonly stream: string;
  readonly events: readonly { schema: DescMessage; data: object }[];
}

/** A small network's first minutes: a segment, its pool, two nodes, two pods, one pod leaving. */
const COMMANDS: readonly DemoCommand[] = [
  {
    id: 'demo-create-segment-blue',
    actor: 'user:demo',
    stream: 'segment-blue',
    events: [
      {
        schema: SegmentCreatedSchema,
        data: { segmentId: 'blue', name: 'blue', vni: 1001, subnets: ['10.10.0.0/16'] },
      },
    ],
  },
  {
    id: 'demo-create-pool-blue',
    actor: 'user:demo',
    stream: 'pool-blue',
    events: [
      {
        schema: PoolCreatedSchema,
        data: { poolId: 'blue', cidr: '10.10.0.0/16', segmentId: 'blue' },
      },
    ],
  },
  ...['node-1', 'node-2'].map((name, i) => ({
    id: `demo-register-${name}`,
    actor: `agent:${name}`,
    stream: `node-${name}`,
    events: [
      {
        schema: NodeRegisteredSchema,
        data: {
          name,
          vtepAddress: `192.0.2.${11 + i}`,
          vtepMac: `02:00:c0:00:02:${(11 + i).toString(16).padStart(2, '0')}`,
        },
      },
    ],
  })),
  ...[
    { pod: 'web-1', node: 'node-1', ip: '10.10.0.2', mac: '02:0a:0a:00:00:02', tier: 'web' },
    { pod: 'db-1', node: 'node-2', ip: '10.10.0.3', mac: '02:0a:0a:00:00:03', tier: 'db' },
  ].flatMap(({ pod, node, ip, mac, tier }) => [
    {
      id: `demo-allocate-${pod}`,
      actor: 'svc:ipam',
      stream: 'pool-blue',
      events: [
        {
          schema: AddressAllocatedSchema,
          data: { poolId: 'blue', address: ip, owner: `pod/${pod}` },
        },
      ],
    },
    {
      id: `demo-attach-${pod}`,
      actor: 'k8s:watcher',
      stream: `endpoint-${pod}`,
      events: [
        {
          schema: EndpointCreatedSchema,
          data: { uid: pod, segmentId: 'blue', node, ip, mac, labels: { app: 'shop', tier } },
        },
      ],
    },
  ]),
  {
    id: 'demo-detach-web-1',
    actor: 'k8s:watcher',
    stream: 'endpoint-web-1',
    events: [{ schema: EndpointDeletedSchema, data: { uid: 'web-1' } }],
  },
  {
    id: 'demo-release-web-1',
    actor: 'svc:ipam',
    stream: 'pool-blue',
    events: [
      {
        schema: AddressReleasedSchema,
        data: { poolId: 'blue', address: '10.10.0.2', owner: 'pod/web-1' },
      },
    ],
  },
];

export interface LogDemoOptions {
  readonly store: string;
}

/**
 * `strata demo log`: open the embedded store, append a few network events, and replay the log
 * as a table. Every event is checked against its proto contract on the way in and out.
 */
export async function runLogDemo(
  options: LogDemoOptions,
  print: (text: string) => void,
): Promise<void> {
  const store = new SqliteEventStore({ path: options.store });
  try {
    const headBefore = await store.headPosition();
    const total = COMMANDS.reduce((sum, command) => sum + command.events.length, 0);
    let appended = 0;
    for (const command of COMMANDS) {
      const result = await store.append(
        command.stream,
        command.events.map((e, i) => toAppend(command, e, i)),
        'any',
      );
      appended += result.firstPosition > headBefore ? command.events.length : 0;
    }
    print(`event store: sqlite at ${options.store}`);
    print(
      `appended ${appended} new events` +
        (appended < total
          ? ` (${total - appended} were already in the log: retries are idempotent)`
          : ''),
    );
    print('');
    const log = await collect(store.readAll());
    print(eventTable(log));
    print('');
    const attached = log.find((e) => e.type === 'EndpointCreated');
    if (attached !== undefined) {
      print(`endpoints as of position ${attached.position} (replayed from the log):`);
      print(
        eventTable(
          await collect(
            store.readAll({
              untilPosition: attached.position,
              filter: { categories: ['endpoint'] },
            }),
          ),
        ),
      );
    }
  } finally {
    await store.close();
  }
}

function toAppend(
  command: DemoCommand,
  event: DemoCommand['events'][number],
  index: number,
): EventToAppend {
  const message = create(event.schema, event.data as never);
  return {
    id: `${command.id}/${index}`,
    type: event.schema.name,
    data: toJson(event.schema, message),
    correlationId: command.id,
    causationId: command.id,
    actor: command.actor,
  };
}

function eventTable(events: readonly RecordedEvent[]): string {
  return renderTable(
    ['POSITION', 'RECORDED AT', 'STREAM', 'REV', 'TYPE', 'ACTOR', 'DATA'],
    events.map((e) => [
      String(e.position),
      e.recordedAt.toISOString(),
      e.stream,
      String(e.revision),
      e.type,
      e.actor,
      summarize(e),
    ]),
  );
}

/** The payload, validated against its proto contract, as `field=value` pairs. */
function summarize(event: RecordedEvent): string {
  const schema = registry.getMessage(`strata.v1.${event.type}`);
  if (schema === undefined) {
    return `(unknown event type ${event.type})`;
  }
  const json = toJson(schema, fromJson(schema, event.data as JsonValue)) as Record<string, unknown>;
  return Object.entries(json)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) {
    out.push(item);
  }
  return out;
}
