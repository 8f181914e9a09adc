export { Relay, RelayError, type RelayOptions, type RelayState, type RelayStats } from './relay';
export {
  BusReader,
  BusReaderError,
  type BusReaderOptions,
  type BusReaderStats,
  type Delivery,
  type EventHandler,
} from './bus-reader';
export {
  START_OF_LOG,
  MalformedBusMessage,
  encodeEventMessage,
  encodeHeartbeat,
  decodeBusMessage,
  type BusCheckpoint,
  type BusMessage,
  type BusEventMessage,
  type HeartbeatMessage,
  type OutgoingMessage,
} from './codec';
export { Lease, type LeaseOptions, type LeaseValue } from './lease';
