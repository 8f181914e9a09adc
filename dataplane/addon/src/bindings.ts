// The raw surface of strata_bpf.node (src/*.cc) and where to find it. Only the facade uses this.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { constants } from 'node:os';
import { BpfError } from './errors';

/** Where build.sh leaves the addon, relative to the repository root. */
export const ADDON_RELATIVE_PATH = join(
  'dataplane',
  'addon',
  'build',
  'Release',
  'strata_bpf.node',
);

export interface NativeMapInfo {
  readonly name: string;
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly valueBufferSize: number;
  readonly possibleCpus: number;
  readonly id: number;
}

export interface NativeMap {
  info(): NativeMapInfo;
  fd(): number;
  lookup(key: Buffer): Buffer | undefined;
  update(key: Buffer, value: Buffer, flags: number): void;
  delete(key: Buffer): boolean;
  keys(): Buffer[];
  entries(): Array<[Buffer, Buffer]>;
  updateBatch(keys: readonly Buffer[], values: readonly Buffer[]): void;
  deleteBatch(keys: readonly Buffer[]): number;
  pin(path: string): void;
  unpin(path: string): void;
  close(): void;
}

export interface NativeTestRunResult {
  readonly retval: number;
  readonly data: Buffer;
  readonly ctxOut?: Buffer;
  readonly durationNs: number;
}

export interface NativeProgram {
  info(): { readonly name: string; readonly type: string; readonly id: number };
  fd(): number;
  testRun(
    data: Buffer,
    ctxIn: Buffer | undefined,
    repeat: number,
    dataSizeOut: number,
    ifindex: number | undefined,
    netns: string | undefined,
  ): NativeTestRunResult;
  runLiveFrames(
    data: Buffer,
    repeat: number,
    ifindex: number,
    batchSize: number,
    netns: string | undefined,
  ): Promise<{ durationNs: number }>;
  attachXdp(ifname: string, netns: string | undefined, mode: 'native' | 'generic'): Promise<void>;
  detachXdp(ifname: string, netns: string | undefined): Promise<void>;
  attachTc(
    ifname: string,
    netns: string | undefined,
    direction: 'ingress' | 'egress',
    handle: number,
    priority: number,
  ): Promise<void>;
  detachTc(
    ifname: string,
    netns: string | undefined,
    direction: 'ingress' | 'egress',
    handle: number,
    priority: number,
  ): Promise<void>;
  pin(path: string): void;
}

export interface NativeObject {
  maps(): Array<{ readonly name: string; readonly internal: boolean }>;
  programs(): string[];
  map(name: string): NativeMap;
  program(name: string): NativeProgram;
  close(): void;
}

export interface NativeRingBuffer {
  poll(timeoutMs: number): Promise<Buffer[]>;
  consume(): Buffer[];
  close(): void;
}

export interface Binding {
  readonly libbpfVersion: string;
  configure(options: { BpfError: typeof BpfError }): void;
  loadObject(
    path: string,
    rodata: ReadonlyArray<readonly [string, bigint | Buffer]>,
    pinRoot: string | undefined,
  ): Promise<NativeObject>;
  openPinnedMap(path: string): NativeMap;
  RingBuffer: new (mapFd: number) => NativeRingBuffer;
  ifindexOf(ifname: string, netns: string | undefined): number;
}

/**
 * The directory above `start` that holds the built addon: `start` is this file's directory, in
 * the source tree (ts-jest) or under dist/ (built), so the repository root is somewhere above.
 */
export function findAddon(start: string): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, ADDON_RELATIVE_PATH);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

let loaded: Binding | undefined;

/** The addon, loaded on first use so that importing the facade never needs a built addon. */
export function binding(): Binding {
  if (loaded) return loaded;
  const path = findAddon(__dirname);
  if (!path) {
    throw new BpfError(
      'addon',
      constants.errno.ENOENT,
      'ENOENT',
      `addon: ${ADDON_RELATIVE_PATH} not found above ${__dirname}; build it with dataplane/addon/build.sh`,
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a native module has no ES import
  const native = require(path) as Binding;
  native.configure({ BpfError });
  loaded = native;
  return native;
}
