import { runServiceMain } from '@strata/bus';
import { DISCOVERY_SERVICE, startDiscoveryService } from './discovery-service';

/**
 * Runs the discovery service alone, as one replica: `node dist/services/discovery/src/main.js
 * --nats nats://127.0.0.1:4222 --store .strata/events.db [--credentials .strata/credentials]`.
 * Replicas sharing NATS and the store share the load (one queue group); flags, readiness line
 * and shutdown are runServiceMain's.
 */
runServiceMain({
  name: DISCOVERY_SERVICE,
  description: 'Strata discovery service: service VIP -> current backends, health, failover',
  start: startDiscoveryService,
});
