import { statfsSync } from 'node:fs';
import { binding } from './bindings';
import type { AttachOptions } from './program';

/** statfs(2) f_type of bpffs (include/uapi/linux/magic.h). */
const BPF_FS_MAGIC = 0xcafe4a11;

/** if_nametoindex, in options.netns when given; BpfError ENODEV when the interface is missing. */
export function ifindexOf(ifname: string, options: AttachOptions = {}): number {
  return binding().ifindexOf(ifname, options.netns);
}

/** Whether path (default /sys/fs/bpf) is on a mounted bpffs. */
export function bpffsMounted(path = '/sys/fs/bpf'): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}
