/**
 * History tools over the fold (pure, no I/O, no clock): lineage of forwarding entries, diffs
 * with their causes, holders of addresses and identities, and the packet trace. The analytics
 * service feeds them the log (services/analytics/src/history); docs/history.md.
 */
export * from './events';
export * from './lineage';
export * from './changes';
export * from './holders';
export * from './trace';
