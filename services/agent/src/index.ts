export { NodeAgent, type NodeAgentOptions } from './agent';
export {
  CheckpointFile,
  InvalidCheckpoint,
  type AgentCheckpoint,
  type CheckpointStore,
} from './checkpoint-file';
export { MemoryDataplane, writeDelta, type DataplaneOperations } from './dataplane';
export { Reconciler, type ReconcilerOptions } from './reconciler';
