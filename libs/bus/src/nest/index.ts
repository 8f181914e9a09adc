export * from './strata-service';
export * from './strata-nats.server';
export * from './command.decorators';
export * from './command-reply.filter';
export * from './errors';
export * from './service-main';
export * from './read-model';
