export { LogServer, LOG_READ_QUEUE, type LogServerOptions } from './log-server';
export { RemoteLog, type LogSource, type RemoteLogOptions } from './remote-log';
export {
  MAX_PAGE_BYTES,
  MAX_PAGE_EVENTS,
  parseLogPage,
  toWireEvent,
  type LogPage,
  type LogReadRequest,
  type WireEvent,
} from './wire';
