export { NodeAgent, type NodeAgentOptions } from './agent';
export { CheckpointFile, InvalidCheckpoint, type AgentCheckpoint } from './checkpoint-file';
export { MemoryDataplane, writeDelta, type DataplaneOperations } from './dataplane';
export { Reconciler, type ReconcilerOptions } from './reconciler';
