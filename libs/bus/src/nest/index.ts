export * from './strata-service';
export * from './strata-nats.server';
export * from './command.decorators';
export * from './command-reply.filter';
export * from './errors';
