import {
  CONFIG,
  type ClusterView,
  type CommandSpec,
  type EndpointView,
  type NodeView,
  type SegmentView,
  type ServiceView,
} from '@strata/bus';
import { Option, type Command } from 'commander';
import { CliError } from '../errors';
import { checkRequest, clientCommand, print, table, type ClientOptions } from './options';
import { withSession } from './session';

/**
 * The config service's resources: `strata segments|endpoints|nodes|services|clusters` with
 * `create`, `list`, `show` and `delete` where the contract has them. Every request is checked
 * against the contract's own schema before it is sent, so a bad flag fails the same way the
 * service would reject it, without a round trip.
 */
export function registerConfigCommands(program: Command): void {
  registerSegments(program);
  registerEndpoints(program);
  registerNodes(program);
  registerServices(program);
  registerClusters(program);
}

interface Resource<View, Ref> {
  readonly group: Command;
  /** `segment`, for descriptions. */
  readonly noun: string;
  /** The positional argument naming one. */
  readonly argument: string;
  readonly ref: (id: string) => Ref;
  readonly get: CommandSpec<Ref, View>;
  readonly remove?: CommandSpec<Ref, unknown>;
  readonly headers: readonly string[];
  readonly row: (view: View) => string[];
}

/** `show <id>` and `delete <id>` of a resource; `list` and `create` differ too much to share. */
function showAndDelete<View, Ref>(resource: Resource<View, Ref>): void {
  clientCommand(resource.group, 'show', `show one ${resource.noun}`)
    .argument(resource.argument)
    .action(async (id: string, options: ClientOptions) => {
      const request = checkRequest(resource.get, resource.ref(id));
      const view = await withSession(options, (session) => session.execute(resource.get, request));
      print(options, view, (v) => table(resource.headers, [resource.row(v)], ''));
    });
  const remove = resource.remove;
  if (remove === undefined) return;
  clientCommand(resource.group, 'delete', `delete a ${resource.noun}`)
    .argument(resource.argument)
    .action(async (id: string, options: ClientOptions) => {
      const request = checkRequest(remove, resource.ref(id));
      const reply = await withSession(options, (session) => session.execute(remove, request));
      print(options, reply, () => `deleted ${resource.noun} ${id}`);
    });
}

function registerSegments(program: Command): void {
  const group = program.command('segments').description('virtual network segments (config)');
  const headers = ['ID', 'NAME', 'VNI', 'SUBNETS', 'FEDERATED'];
  const row = (s: SegmentView) => [
    s.segmentId,
    s.name,
    String(s.vni),
    s.subnets.join(', '),
    s.federated ? 'yes' : 'no',
  ];
  clientCommand(group, 'create', 'create a segment over one or more subnets')
    .argument('<id>', 'the segment id')
    .requiredOption('--name <name>', 'its name (a DNS label)')
    .requiredOption('--subnet <cidr>', 'a subnet (repeat for several)', collect, [])
    .option('--vni <vni>', 'this VNI exactly (default: IPAM picks one)')
    .option('--federated', 'spans federated clusters')
    .action(
      async (
        id: string,
        options: ClientOptions & { name: string; subnet: string[]; vni?: string; federated?: true },
      ) => {
        const request = checkRequest(CONFIG.createSegment, {
          segmentId: id,
          name: options.name,
          subnets: options.subnet,
          ...(options.vni === undefined ? {} : { vni: integer(options.vni, '--vni') }),
          ...(options.federated === undefined ? {} : { federated: true }),
        });
        const view = await withSession(options, (s) => s.execute(CONFIG.createSegment, request));
        print(options, view, (v) => table(headers, [row(v)], ''));
      },
    );
  clientCommand(group, 'list', 'list every segment').action(async (options: ClientOptions) => {
    const reply = await withSession(options, (s) => s.execute(CONFIG.listSegments, {}));
    print(options, reply, (r) => table(headers, r.segments.map(row), 'no segments yet'));
  });
  showAndDelete({
    group,
    noun: 'segment',
    argument: '<id>',
    ref: (segmentId) => ({ segmentId }),
    get: CONFIG.getSegment,
    remove: CONFIG.deleteSegment,
    headers,
    row,
  });
}

function registerEndpoints(program: Command): void {
  const group = program.command('endpoints').description('pods and external endpoints (config)');
  const headers = ['UID', 'KIND', 'SEGMENT', 'NODE', 'IP', 'MAC', 'LABELS'];
  const row = (e: EndpointView) => [
    e.uid,
    e.kind,
    e.segmentId,
    e.node === '' ? '-' : e.node,
    e.ip,
    e.mac === '' ? '-' : e.mac,
    formatLabels(e.labels),
  ];
  clientCommand(group, 'create', 'create an endpoint in a segment')
    .argument('<uid>', 'the endpoint uid')
    .requiredOption('--segment <id>', 'its segment')
    .requiredOption('--ip <ip>', 'its address')
    .addOption(
      new Option('--kind <kind>', 'pod or external').choices(['pod', 'external']).default('pod'),
    )
    .option('--node <name>', 'the node a pod runs on')
    .option('--mac <mac>', 'its MAC address')
    .option('--label <key=value>', 'a label (repeat for several)', collect, [])
    .action(
      async (
        uid: string,
        options: ClientOptions & {
          segment: string;
          ip: string;
          kind: 'pod' | 'external';
          node?: string;
          mac?: string;
          label: string[];
        },
      ) => {
        const request = checkRequest(CONFIG.createEndpoint, {
          uid,
          kind: options.kind,
          segmentId: options.segment,
          ip: options.ip,
          ...(options.node === undefined ? {} : { node: options.node }),
          ...(options.mac === undefined ? {} : { mac: options.mac }),
          ...(options.label.length === 0
            ? {}
            : { labels: parseLabelFlags(options.label, '--label') }),
        });
        const view = await withSession(options, (s) => s.execute(CONFIG.createEndpoint, request));
        print(options, view, (v) => table(headers, [row(v)], ''));
      },
    );
  clientCommand(group, 'list', 'list endpoints')
    .option('--segment <id>', 'only those of this segment')
    .action(async (options: ClientOptions & { segment?: string }) => {
      const request = checkRequest(
        CONFIG.listEndpoints,
        options.segment === undefined ? {} : { segmentId: options.segment },
      );
      const reply = await withSession(options, (s) => s.execute(CONFIG.listEndpoints, request));
      print(options, reply, (r) => table(headers, r.endpoints.map(row), 'no endpoints'));
    });
  showAndDelete({
    group,
    noun: 'endpoint',
    argument: '<uid>',
    ref: (uid) => ({ uid }),
    get: CONFIG.getEndpoint,
    remove: CONFIG.deleteEndpoint,
    headers,
    row,
  });
}

function registerNodes(program: Command): void {
  const group = program.command('nodes').description('nodes and their agents (config)');
  const headers = ['NAME', 'STATUS', 'VTEP', 'VTEP MAC', 'LAST HEARTBEAT', 'DOWN SINCE'];
  const row = (n: NodeView) => [
    n.name,
    n.status,
    n.vtepAddress,
    n.vtepMac,
    n.lastHeartbeatAt,
    n.downAt ?? '-',
  ];
  clientCommand(group, 'list', 'list every node').action(async (options: ClientOptions) => {
    const reply = await withSession(options, (s) => s.execute(CONFIG.listNodes, {}));
    print(options, reply, (r) => table(headers, r.nodes.map(row), 'no nodes registered'));
  });
  showAndDelete({
    group,
    noun: 'node',
    argument: '<name>',
    ref: (name) => ({ name }),
    get: CONFIG.getNode,
    remove: CONFIG.deleteNode,
    headers,
    row,
  });
}

function registerServices(program: Command): void {
  const group = program.command('services').description('service VIPs and their backends (config)');
  const headers = ['ID', 'NAME', 'VIP', 'PORTS', 'SELECTOR', 'BACKENDS'];
  const row = (s: ServiceView) => [
    s.serviceId,
    s.name,
    s.vip,
    s.ports.map((p) => `${p.protocol}/${p.port}:${p.targetPort}`).join(', '),
    formatLabels(s.selector),
    s.backends.length === 0 ? '-' : s.backends.join(', '),
  ];
  clientCommand(group, 'create', 'create a service with a VIP')
    .argument('<id>', 'the service id')
    .requiredOption('--name <name>', 'its name (a DNS label)')
    .requiredOption(
      '--port <proto/port[:target]>',
      'e.g. TCP/80:8080 (repeat for several)',
      collect,
      [],
    )
    .option('--vip <ip>', 'this VIP exactly (default: any from the VIP pool)')
    .option('--vip-pool <id>', 'the IPAM vip pool')
    .option('--selector <key=value>', 'backends are the endpoints with these labels', collect, [])
    .option('--backend <uid>', 'a backend endpoint (repeat; instead of --selector)', collect, [])
    .action(
      async (
        id: string,
        options: ClientOptions & {
          name: string;
          port: string[];
          vip?: string;
          vipPool?: string;
          selector: string[];
          backend: string[];
        },
      ) => {
        const request = checkRequest(CONFIG.createService, {
          serviceId: id,
          name: options.name,
          ports: options.port.map(parsePortFlag),
          ...(options.vip === undefined ? {} : { vip: options.vip }),
          ...(options.vipPool === undefined ? {} : { vipPool: options.vipPool }),
          ...(options.selector.length === 0
            ? {}
            : { selector: parseLabelFlags(options.selector, '--selector') }),
          ...(options.backend.length === 0 ? {} : { backends: options.backend }),
        });
        const view = await withSession(options, (s) => s.execute(CONFIG.createService, request));
        print(options, view, (v) => table(headers, [row(v)], ''));
      },
    );
  clientCommand(group, 'list', 'list every service').action(async (options: ClientOptions) => {
    const reply = await withSession(options, (s) => s.execute(CONFIG.listServices, {}));
    print(options, reply, (r) => table(headers, r.services.map(row), 'no services yet'));
  });
  showAndDelete({
    group,
    noun: 'service',
    argument: '<id>',
    ref: (serviceId) => ({ serviceId }),
    get: CONFIG.getService,
    remove: CONFIG.deleteService,
    headers,
    row,
  });
}

function registerClusters(program: Command): void {
  const group = program.command('clusters').description('federated clusters (config)');
  const headers = ['ID', 'NAME', 'URL', 'LINK', 'STATUS', 'SINCE', 'REASON'];
  const row = (c: ClusterView) => [
    c.clusterId,
    c.name,
    c.url,
    c.link,
    c.status,
    c.since ?? '-',
    c.reason ?? '-',
  ];
  clientCommand(group, 'create', 'federate with another cluster')
    .argument('<id>', 'the cluster id')
    .requiredOption('--name <name>', 'its name (a DNS label)')
    .requiredOption('--url <url>', 'where it is reached, e.g. nats://gw.example:7222')
    .addOption(
      new Option('--link <link>', 'gateway or leaf')
        .choices(['gateway', 'leaf'])
        .default('gateway'),
    )
    .action(
      async (
        id: string,
        options: ClientOptions & { name: string; url: string; link: 'gateway' | 'leaf' },
      ) => {
        const request = checkRequest(CONFIG.createCluster, {
          clusterId: id,
          name: options.name,
          url: options.url,
          link: options.link,
        });
        const view = await withSession(options, (s) => s.execute(CONFIG.createCluster, request));
        print(options, view, (v) => table(headers, [row(v)], ''));
      },
    );
  clientCommand(group, 'list', 'list every cluster').action(async (options: ClientOptions) => {
    const reply = await withSession(options, (s) => s.execute(CONFIG.listClusters, {}));
    print(options, reply, (r) => table(headers, r.clusters.map(row), 'no clusters yet'));
  });
  showAndDelete({
    group,
    noun: 'cluster',
    argument: '<id>',
    ref: (clusterId) => ({ clusterId }),
    get: CONFIG.getCluster,
    remove: CONFIG.deleteCluster,
    headers,
    row,
  });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function integer(value: string, flag: string): number {
  if (!/^[0-9]+$/.test(value)) {
    throw new CliError('InvalidArgument', `${flag} must be an integer, got ${value}`);
  }
  return Number(value);
}

/** `key=value` flags as a labels object (the schema then checks keys and values). */
function parseLabelFlags(values: readonly string[], flag: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new CliError('InvalidLabels', `${flag} takes key=value, got ${value}`);
    labels[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return labels;
}

/** `TCP/80` or `TCP/80:8080`. */
function parsePortFlag(value: string): {
  protocol: 'TCP' | 'UDP';
  port: number;
  targetPort?: number;
} {
  const match = /^(TCP|UDP)\/([0-9]{1,5})(?::([0-9]{1,5}))?$/i.exec(value);
  if (match === null) {
    throw new CliError(
      'InvalidPort',
      `--port takes PROTO/PORT[:TARGET] like TCP/80:8080, got ${value}`,
    );
  }
  return {
    protocol: match[1].toUpperCase() as 'TCP' | 'UDP',
    port: Number(match[2]),
    ...(match[3] === undefined ? {} : { targetPort: Number(match[3]) }),
  };
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}
