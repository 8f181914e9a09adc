export {
  BpfDataplane,
  BPF_MODES,
  FALLBACK_POD_MTU,
  VXLAN_OVERHEAD,
  type BpfDataplaneConfig,
  type BpfDataplaneOptions,
  type BpfMode,
} from './bpf-dataplane';
export {
  countersToPrometheus,
  readCounters,
  type DataplaneCounters,
  type TrafficCounter,
} from './counters';
