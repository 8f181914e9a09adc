/**
 * @strata/forwarding: the pure fold from Strata's event log to one node's desired forwarding
 * state (local and remote endpoints, VTEPs, compiled policy), the reference policy evaluator,
 * its snapshots and canonical digest, and the delta between desired and applied tables that
 * the node agent reconciles. No I/O, no clock, no
 * randomness: the agent runs it live and the replay tool runs it on history, with equal results.
 */
export * from './forwarding-state';
export * from './tables';
export * from './diff';
export * from './snapshot';
export { canonicalJson, digestTables, writeCanonicalTables } from './digest';
export * from './identity';
export * from './policy';
export { sha256, sha256Hex } from './sha256';
export * from './history';
