import type { NativeObject } from './bindings';
import { binding } from './bindings';
import { invalid } from './errors';
import { BpfMap } from './map';
import { BpfProgram } from './program';

export interface LoadOptions {
  /**
   * Values for `const volatile` globals in .rodata, by name: number (safe integer), bigint or
   * Buffer. Integers must fit the global's size, Buffers match it exactly, else BpfError EINVAL;
   * an unknown name is BpfError ENOENT.
   */
  readonly rodata?: Readonly<Record<string, number | bigint | Buffer>>;
  /** Directory under bpffs where maps declared with LIBBPF_PIN_BY_NAME are pinned/reused (libbpf pin_root_path). */
  readonly pinRoot?: string;
}

/** open + set rodata + load, in an async worker. A rejected load carries the verifier log in BpfError.log. */
export async function loadObject(path: string, options: LoadOptions = {}): Promise<BpfObject> {
  const rodata = Object.entries(options.rodata ?? {}).map(
    ([name, value]) => [name, rodataValue(name, value)] as const,
  );
  const native = await binding().loadObject(path, rodata, options.pinRoot);
  return new BpfObject(path, native);
}

function rodataValue(name: string, value: unknown): bigint | Buffer {
  if (typeof value === 'bigint' || Buffer.isBuffer(value)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  return invalid('rodata', `value of '${name}' must be a safe integer, a bigint or a Buffer`);
}

/** A loaded BPF object: its maps and programs stay in the kernel until close() (or pins/attachments keep them). */
export class BpfObject {
  /** Names of the object's maps, without libbpf's internal .rodata/.data/.bss maps. */
  readonly maps: readonly string[];
  /** Names (C function names) of the loaded programs. */
  readonly programs: readonly string[];
  readonly #native: NativeObject;
  readonly #mapHandles = new Map<string, BpfMap>();
  readonly #programHandles = new Map<string, BpfProgram>();

  /** @internal Objects come from loadObject(). */
  constructor(
    readonly path: string,
    native: NativeObject,
  ) {
    this.#native = native;
    this.maps = Object.freeze(native.maps().flatMap((map) => (map.internal ? [] : [map.name])));
    this.programs = Object.freeze(native.programs());
  }

  /** The map by name; BpfError('map', ENOENT) when absent. Internal maps by libbpf name too. */
  map(name: string): BpfMap {
    let map = this.#mapHandles.get(name);
    if (!map) {
      map = new BpfMap(this.#native.map(name));
      this.#mapHandles.set(name, map);
    }
    return map;
  }

  /** The program by C function name; BpfError('program', ENOENT) when absent. */
  program(name: string): BpfProgram {
    let program = this.#programHandles.get(name);
    if (!program) {
      program = new BpfProgram(this.#native.program(name));
      this.#programHandles.set(name, program);
    }
    return program;
  }

  /**
   * Releases the object's fds (after async operations in flight finish). Idempotent. Pinned maps
   * and programs, and attached programs, stay in the kernel. Its maps and programs then fail
   * with BpfError EBADF.
   */
  close(): void {
    this.#native.close();
  }
}
