export {
  BpfDataplane,
  BPF_MODES,
  FALLBACK_POD_MTU,
  VXLAN_OVERHEAD,
  type BpfDataplaneConfig,
  type BpfDataplaneOptions,
  type BpfMode,
  type ConnectionSweep,
} from './bpf-dataplane';
export {
  connectionVerdict,
  DEFAULT_IDLE_TIMEOUTS,
  idleTooLong,
  type ConnectionVerdict,
  type IdleTimeouts,
} from './conntrack';
export {
  countersToPrometheus,
  readCounters,
  type DataplaneCounters,
  type TrafficCounter,
} from './counters';
