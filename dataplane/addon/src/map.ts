import type { NativeMap } from './bindings';
import { binding } from './bindings';
import { invalid } from './errors';

/** bpf_map_update_elem flags: BPF_ANY, BPF_NOEXIST, BPF_EXIST. */
export type UpdateFlag = 'any' | 'noexist' | 'exist';

const UPDATE_FLAGS: Readonly<Record<UpdateFlag, number>> = { any: 0, noexist: 1, exist: 2 };

/**
 * A BPF map of a loaded object (BpfObject.map) or opened from a pin (openPinnedMap). Keys must be
 * exactly keySize bytes and values exactly valueBufferSize bytes, else BpfError EINVAL. Element
 * operations are synchronous syscalls. After the owning object is closed every operation fails
 * with BpfError EBADF.
 */
export class BpfMap {
  readonly name: string;
  /** As bpftool prints it: 'hash', 'percpu_array', 'lru_hash', 'ringbuf', ... */
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly possibleCpus: number;
  /**
   * Bytes of the values that lookup returns and update takes: valueSize, or for per-CPU maps
   * possibleCpus values of valueSize rounded up to 8 bytes each, CPU 0 first (as the kernel does).
   */
  readonly valueBufferSize: number;
  /** Kernel map id (`bpftool map show id <id>`). */
  readonly id: number;
  readonly #native: NativeMap;

  /** @internal Maps come from BpfObject.map() and openPinnedMap(). */
  constructor(native: NativeMap) {
    const info = native.info();
    this.#native = native;
    this.name = info.name;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.possibleCpus = info.possibleCpus;
    this.valueBufferSize = info.valueBufferSize;
    this.id = info.id;
  }

  /** The map's fd, valid until its object (or this pinned map) is closed. */
  get fd(): number {
    return this.#native.fd();
  }

  /** The value, or undefined when the key is absent. */
  lookup(key: Buffer): Buffer | undefined {
    return this.#native.lookup(key);
  }

  update(key: Buffer, value: Buffer, flags: UpdateFlag = 'any'): void {
    const bits = UPDATE_FLAGS[flags];
    if (bits === undefined) invalid('map_update', `flags must be 'any', 'noexist' or 'exist'`);
    this.#native.update(key, value, bits);
  }

  /** true if removed, false if the key was missing (never throws for a missing key). */
  delete(key: Buffer): boolean {
    return this.#native.delete(key);
  }

  /** Every key, walked with bpf_map_get_next_key (array maps: every index). */
  keys(): Buffer[] {
    return this.#native.keys();
  }

  /** Every [key, value] still present when its value is read. */
  entries(): Array<[Buffer, Buffer]> {
    return this.#native.entries();
  }

  /** bpf_map_update_batch (BPF_ANY), or one update at a time where the kernel has no batch. */
  updateBatch(keys: readonly Buffer[], values: readonly Buffer[]): void {
    this.#native.updateBatch(keys, values);
  }

  /** Deletes every present key (missing keys are fine); returns how many were removed. */
  deleteBatch(keys: readonly Buffer[]): number {
    return this.#native.deleteBatch(keys);
  }

  /** Pins at path (missing parent directories are created); pinning the same map again is a no-op. */
  pin(path: string): void {
    this.#native.pin(path);
  }

  /** Removes the pin at path if it pins this map; a missing path is a no-op. */
  unpin(path: string): void {
    this.#native.unpin(path);
  }
}

/** A map opened from a bpffs pin; it holds its own fd until close() (or garbage collection). */
export class PinnedMap extends BpfMap {
  readonly #handle: NativeMap;

  /** @internal Pinned maps come from openPinnedMap(). */
  constructor(native: NativeMap) {
    super(native);
    this.#handle = native;
  }

  /** Releases the fd; idempotent. The pin itself stays. */
  close(): void {
    this.#handle.close();
  }
}

/** Opens the map pinned at path (e.g. by another process), without loading any object. */
export function openPinnedMap(path: string): PinnedMap {
  return new PinnedMap(binding().openPinnedMap(path));
}
