/**
 * @strata/domain: the aggregates of Strata as pure deciders, their commands and events, and
 * the validators shared with the HTTP/NATS boundaries. No I/O, no clock, no randomness.
 */
export * from './shared/decider';
export * from './shared/errors';
export * from './shared/ids';
export * from './shared/time';
export * from './net';
export * from './events';
export * from './segment/segment';
export * from './vni/vni-pool';
export * from './pool/sharding';
export * from './pool/address-space';
export * from './pool/address-pool';
export * from './pool/pool-shard';
export * from './endpoint/endpoint';
export * from './identity/identity-pool';
export * from './node/node';
export * from './service/service';
export * from './cluster/cluster';
export * from './discovery/backend-health';
export * from './policy';
export * from './analytics/flow-report';
