import {
  ADMIN,
  agentSubject,
  ALL_AGENT_APPLIED_SUBJECT,
  appliedReport,
  CommandClient,
  connectAs,
  decodeBody,
  isCommandReply,
  RemoteLog,
  type AgentStatus,
  type CommandSpec,
} from '@strata/bus';
import type { ReadAllOptions, RecordedEvent } from '@strata/eventstore';
import type { NatsConnection, Subscription } from 'nats';
import { CliError, natsConnectError } from '../errors';

const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * The lab's connection to its server, as the `admin` identity: commands to the services (the
 * calls a CNI plugin makes), the log's head, and the agents' status queries and applied reports.
 */
export class LabControl {
  private readonly client: CommandClient;

  private constructor(private readonly nc: NatsConnection) {
    this.client = new CommandClient(nc, { actor: 'lab', timeoutMs: REQUEST_TIMEOUT_MS });
  }

  static async open(natsUrl: string, credentialsDir: string): Promise<LabControl> {
    try {
      const nc = await connectAs(ADMIN, {
        dir: credentialsDir,
        servers: natsUrl.split(','),
        name: 'strata-lab',
        timeout: CONNECT_TIMEOUT_MS,
        maxReconnectAttempts: 0,
      });
      return new LabControl(nc);
    } catch (error) {
      throw natsConnectError(
        error,
        natsUrl,
        `the admin credentials in ${credentialsDir}`,
        'is the lab server running? `strata lab status` tells',
      );
    }
  }

  execute<Request, Reply>(spec: CommandSpec<Request, Reply>, data: Request): Promise<Reply> {
    return this.client.execute(spec, data);
  }

  /** The agent's own report, or undefined when it does not answer within `timeoutMs`. */
  async agentStatus(node: string, timeoutMs = 2_000): Promise<AgentStatus | undefined> {
    try {
      const message = await this.nc.request(agentSubject(node, 'status'), new Uint8Array(), {
        timeout: timeoutMs,
      });
      const body = decodeBody(message.data);
      return isCommandReply(body) && body.ok ? (body.data as AgentStatus) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Every message of `subject` (a wildcard is fine) until the subscription is ended. */
  subscribe(subject: string, callback: (data: Uint8Array) => void): Subscription {
    return this.nc.subscribe(subject, {
      callback: (error, message) => {
        if (error === null) callback(message.data);
      },
    });
  }

  /** The log's events, read through the relays (`strata.log.read`). */
  readLog(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    return new RemoteLog({ nc: this.nc }).readAll(options);
  }

  /** The position of the log's last event, read through the relays (`strata.log.read`). */
  async logHead(atLeast = 0): Promise<number> {
    let head = atLeast;
    for await (const event of this.readLog({ after: atLeast })) {
      head = event.position;
    }
    return head;
  }

  /**
   * Resolves once every one of `nodes` has applied the log up to its head (as it is when this is
   * called): a signal, from the agents' status answers and then their applied reports. Rejects
   * with NotConverged, naming the nodes behind, after `timeoutMs`.
   */
  async waitApplied(nodes: readonly string[], timeoutMs: number): Promise<number> {
    const applied = new Map<string, number>(nodes.map((node) => [node, -1]));
    let target = Infinity;
    let wake: () => void = () => undefined;
    const behind = () => nodes.filter((node) => (applied.get(node) ?? -1) < target);
    const raise = (node: string, position: number) => {
      if (!applied.has(node) || position <= (applied.get(node) ?? -1)) return;
      applied.set(node, position);
      if (behind().length === 0) wake();
    };
    // Subscribed before the head is read: no report that matters can slip between the two.
    const reports = this.nc.subscribe(ALL_AGENT_APPLIED_SUBJECT, {
      callback: (error, message) => {
        if (error !== null) return;
        try {
          const report = appliedReport.parse(decodeBody(message.data), 'report');
          const last = report.points[report.points.length - 1];
          if (last !== undefined) raise(report.node, last[0]);
        } catch {
          // Not a report this lab can read: the status answers still count.
        }
      },
    });
    const done = new Promise<void>((resolve) => {
      wake = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await this.nc.flush();
      target = await this.logHead();
      const statuses = await Promise.all(nodes.map((node) => this.agentStatus(node)));
      statuses.forEach((status, i) => raise(nodes[i], status?.appliedPosition ?? -1));
      if (behind().length > 0) {
        await Promise.race([
          done,
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new CliError(
                    'NotConverged',
                    `not applied up to position ${target} within ${timeoutMs} ms: ` +
                      behind()
                        .map((node) => `${node} at ${applied.get(node)}`)
                        .join(', '),
                  ),
                ),
              timeoutMs,
            );
          }),
        ]);
      }
      return target;
    } finally {
      clearTimeout(timer);
      reports.unsubscribe();
    }
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}
