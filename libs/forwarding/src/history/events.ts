import type { FoldableEvent } from '../forwarding-state';

/**
 * What the history tools read of a recorded event: what the fold reads, plus the envelope's
 * metadata that lineage reports (who, when, which change). A RecordedEvent fits; so does an
 * event read back from an export file (recordedAt as text).
 */
export interface EventMeta {
  readonly id?: string;
  readonly recordedAt?: Date | string;
  readonly actor?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
}

export type HistoryEvent = FoldableEvent & EventMeta;

/** An event as lineage names it: plain JSON, no payload. */
export interface EventRef {
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  readonly revision: number;
  readonly position: number;
  /** RFC 3339 UTC; '' when the source did not say. */
  readonly recordedAt: string;
  readonly actor: string;
  readonly correlationId: string;
  readonly causationId: string;
}

export function eventRef(event: HistoryEvent): EventRef {
  const at = event.recordedAt;
  return {
    id: event.id ?? '',
    type: event.type,
    stream: event.stream,
    revision: event.revision,
    position: event.position,
    recordedAt: at === undefined ? '' : typeof at === 'string' ? at : at.toISOString(),
    actor: event.actor ?? '',
    correlationId: event.correlationId ?? '',
    causationId: event.causationId ?? '',
  };
}
