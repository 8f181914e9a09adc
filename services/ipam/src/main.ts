import { runServiceMain } from '@strata/bus';
import { IPAM_SERVICE, startIpamService } from './ipam-service';

/**
 * Runs the IPAM service alone, as one replica: `node dist/services/ipam/src/main.js
 * --nats nats://127.0.0.1:4222 --store .strata/events.db [--credentials .strata/credentials]`.
 * Start several with the same NATS and store to share the load (one queue group). Flags, the
 * `ipam ready pid=<pid>` line and shutdown are runServiceMain's.
 */
runServiceMain({
  name: IPAM_SERVICE,
  description: 'Strata IPAM service: global address pools, service VIPs and segment VNIs',
  start: startIpamService,
});
