import { eventRef, type EventRef, type HistoryEvent } from './events';

/**
 * Who held an address or an identity, and when: tenures read straight from the endpoint
 * events (EndpointCreated, EndpointLabelsUpdated, EndpointMoved, EndpointDeleted), so the
 * answer does not depend on any node's view (an endpoint on a down node still held its IP).
 * The identity is the one the event carries (`identity`); events without one hold none.
 */
export interface Tenure {
  readonly uid: string;
  readonly ip: string;
  readonly segmentId: string;
  /** '' for an external endpoint. */
  readonly node: string;
  /** null when the events carried no identity. */
  readonly identity: number | null;
  /** The event that began this tenure. */
  readonly from: EventRef;
  /** The event that ended it (deleted, moved, relabelled to another identity); null: still held. */
  readonly until: EventRef | null;
}

export type HolderQuery = { readonly ip: string } | { readonly identity: number };

interface Open {
  uid: string;
  ip: string;
  segmentId: string;
  node: string;
  identity: number | null;
  from: EventRef;
}

/**
 * Feed it the log in order (`add`), then read `tenures`. A tenure closes and a new one opens
 * when the endpoint moves node or changes identity, so each row is one (uid, node, identity).
 * Only the tenures matching the query are kept: memory is the answer's size plus one record
 * per live endpoint.
 */
export class HolderTimeline {
  private readonly open = new Map<string, Open>();
  private readonly closed: Tenure[] = [];

  constructor(private readonly query: HolderQuery) {}

  add(event: HistoryEvent): void {
    const data = event.data as Record<string, unknown> | null;
    if (typeof data !== 'object' || data === null || typeof data.uid !== 'string') return;
    const uid = data.uid;
    const current = this.open.get(uid);
    switch (event.type) {
      case 'EndpointCreated': {
        const { ip, segmentId, node } = data;
        if (typeof ip !== 'string' || typeof segmentId !== 'string' || typeof node !== 'string') {
          return;
        }
        if (current !== undefined) this.close(current, event);
        this.open.set(uid, {
          uid,
          ip,
          segmentId,
          node,
          identity: identityOf(data),
          from: eventRef(event),
        });
        return;
      }
      case 'EndpointLabelsUpdated': {
        if (current === undefined) return;
        const identity = identityOf(data);
        if (identity === current.identity) return;
        this.close(current, event);
        this.open.set(uid, { ...current, identity, from: eventRef(event) });
        return;
      }
      case 'EndpointMoved': {
        if (current === undefined || typeof data.node !== 'string' || data.node === current.node) {
          return;
        }
        this.close(current, event);
        this.open.set(uid, { ...current, node: data.node, from: eventRef(event) });
        return;
      }
      case 'EndpointDeleted':
        if (current === undefined) return;
        this.close(current, event);
        this.open.delete(uid);
        return;
      default:
        return;
    }
  }

  /** The matching tenures, oldest first. */
  tenures(): Tenure[] {
    const still = [...this.open.values()]
      .filter((tenure) => this.matches(tenure))
      .map((tenure) => ({ ...tenure, until: null }));
    return [...this.closed, ...still].sort(
      (a, b) => a.from.position - b.from.position || (a.uid < b.uid ? -1 : 1),
    );
  }

  private close(tenure: Open, event: HistoryEvent): void {
    if (this.matches(tenure)) this.closed.push({ ...tenure, until: eventRef(event) });
  }

  private matches(tenure: Open): boolean {
    return 'ip' in this.query
      ? tenure.ip === this.query.ip
      : tenure.identity === this.query.identity;
  }
}

function identityOf(data: Record<string, unknown>): number | null {
  const identity = data.identity;
  return typeof identity === 'number' && Number.isInteger(identity) ? identity : null;
}
