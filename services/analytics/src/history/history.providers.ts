import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { EVENT_STORE } from '@strata/bus';
import type { EventStore } from '@strata/eventstore';
import { DiffHandler } from './diff.handler';
import { ExplainRouteHandler } from './explain-route.handler';
import { ExplainVerdictHandler } from './explain-verdict.handler';
import { ExportHandler } from './export.handler';
import { HistoryIndex } from './history-index';
import { HoldersHandler } from './holders.handler';
import { ReplayHandler } from './replay.handler';
import { TraceHandler } from './trace.handler';

/** Starts the index's first catch-up with the service, and closes its snapshot file after. */
@Injectable()
export class HistoryLifecycle implements OnModuleInit, OnModuleDestroy {
  constructor(@Inject(HistoryIndex) private readonly history: HistoryIndex) {}

  onModuleInit(): void {
    this.history.start();
  }

  onModuleDestroy(): void {
    this.history.close();
  }
}

/** The history use cases' handlers, for the analytics module's controllers. */
export const HISTORY_HANDLERS = [
  ReplayHandler,
  DiffHandler,
  ExplainRouteHandler,
  ExplainVerdictHandler,
  TraceHandler,
  HoldersHandler,
  ExportHandler,
];

/** The history index over the service's store (settings from STRATA_HISTORY_SNAPSHOT_EVERY). */
export const HISTORY_PROVIDERS = [
  {
    provide: HistoryIndex,
    useFactory: (store: EventStore) => new HistoryIndex(store, historySettingsFromEnv()),
    inject: [EVENT_STORE],
  },
  HistoryLifecycle,
];

function historySettingsFromEnv(): { snapshotEvery?: number } {
  const raw = process.env.STRATA_HISTORY_SNAPSHOT_EVERY;
  if (raw === undefined || raw === '') return {};
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`STRATA_HISTORY_SNAPSHOT_EVERY must be a positive integer, got ${raw}`);
  }
  return { snapshotEvery: value };
}
