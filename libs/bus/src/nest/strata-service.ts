import 'reflect-metadata';
import {
  Global,
  Module,
  type DynamicModule,
  type INestMicroservice,
  type LoggerService,
  type LogLevel,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DeciderRunner, type DeciderRunnerOptions, type EventStore } from '@strata/eventstore';
import type { Authenticator } from 'nats';
import { CommandReplyFilter } from './command-reply.filter';
import { StrataNatsServer } from './strata-nats.server';

/** Injection token of the service's EventStore (the DeciderRunner is injected by its class). */
export const EVENT_STORE = Symbol.for('strata.event-store');

export interface StrataServiceOptions {
  /** The service's name: 'ipam', 'config', ... (its NATS connection is named strata-<name>). */
  readonly name: string;
  /** The Nest module with the service's command handlers. */
  readonly module: Type<unknown> | DynamicModule;
  /** One URL or several (a cluster). */
  readonly natsUrl: string | readonly string[];
  /**
   * The service's own NATS identity (DESIGN: every process authenticates with its own
   * credentials): what `loadCredentials(dir, name)` returns fits. None on an open server.
   */
  readonly credentials?: { readonly authenticator: Authenticator; readonly inboxPrefix?: string };
  /** The event store the service decides against; the caller owns it (and closes it). */
  readonly store: EventStore;
  /**
   * The queue group every replica of the service joins for its commands, so NATS gives each
   * request to exactly one replica. Normally the service's name.
   */
  readonly queue: string;
  readonly runner?: DeciderRunnerOptions;
  /** Nest's logger setting. Default: errors, warnings and lifecycle logs. */
  readonly logger?: LoggerService | LogLevel[] | false;
}

export interface StrataService {
  readonly name: string;
  readonly app: INestMicroservice;
  readonly runner: DeciderRunner;
  /** Stops taking requests, lets the ones in progress reply, and closes the NATS connection. */
  close(): Promise<void>;
}

@Global()
@Module({})
class StrataCoreModule {
  static forRoot(store: EventStore, runner: DeciderRunner): DynamicModule {
    return {
      module: StrataCoreModule,
      providers: [
        { provide: EVENT_STORE, useValue: store },
        { provide: DeciderRunner, useValue: runner },
      ],
      exports: [EVENT_STORE, DeciderRunner],
    };
  }
}

/**
 * Starts a Strata service the one way every service starts: a NestJS microservice on the NATS
 * transport speaking the command protocol, its handlers in one queue group, a DeciderRunner over
 * the given store, and the global filter that turns every failure into a typed reply. Resolves
 * once the service is subscribed and answering.
 */
export async function createStrataService(options: StrataServiceOptions): Promise<StrataService> {
  const runner = new DeciderRunner(options.store, options.runner);
  @Module({ imports: [StrataCoreModule.forRoot(options.store, runner), options.module] })
  class StrataServiceRoot {}

  const servers = typeof options.natsUrl === 'string' ? options.natsUrl : [...options.natsUrl];
  const app = await NestFactory.createMicroservice(StrataServiceRoot, {
    strategy: new StrataNatsServer({
      servers,
      name: `strata-${options.name}`,
      queue: options.queue,
      // A replica outlives a NATS restart: it keeps reconnecting rather than idling, closed.
      maxReconnectAttempts: -1,
      gracefulShutdown: true,
      gracePeriod: 200,
      ...(options.credentials === undefined
        ? {}
        : {
            authenticator: options.credentials.authenticator,
            inboxPrefix: options.credentials.inboxPrefix,
          }),
    }),
    logger: options.logger ?? ['error', 'warn', 'log'],
    abortOnError: false,
  });
  app.useGlobalFilters(new CommandReplyFilter());
  await app.listen();
  return {
    name: options.name,
    app,
    runner,
    close: () => app.close(),
  };
}
