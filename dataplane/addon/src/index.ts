// @strata/dataplane: the TypeScript API over the strata_bpf addon (libbpf). See ../README.md.
import { binding } from './bindings';

export { BpfError } from './errors';
export { loadObject, BpfObject, type LoadOptions } from './object';
export { BpfMap, PinnedMap, openPinnedMap, type UpdateFlag } from './map';
export {
  BpfProgram,
  type AttachOptions,
  type LiveFramesOptions,
  type TcOptions,
  type TestRunOptions,
  type TestRunResult,
} from './program';
export { RingBuffer } from './ringbuf';
export { ifindexOf, bpffsMounted } from './net';

/** The libbpf version the addon runs with, e.g. "v1.1". Loads the addon. */
export function libbpfVersion(): string {
  return binding().libbpfVersion;
}
