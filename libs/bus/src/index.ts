export {
  NatsServerProcess,
  NatsCluster,
  NatsServerError,
  startCluster,
  findNatsServerBinary,
  type NatsServerOptions,
  type NatsClusterOptions,
  type StartClusterOptions,
} from './nats-server';
export * from './security';
export * from './commands';
export * from './nest';
export * from './subjects';
export * from './relay';
export * from './log';
