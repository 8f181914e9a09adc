import type { NativeProgram } from './bindings';

/** Extra output room for programs that grow packets (encapsulation) when dataSizeOut is not given. */
const DEFAULT_OUTPUT_HEADROOM = 1024;
/** Frames per batch in live-frames mode, as the kernel defaults. */
const DEFAULT_LIVE_BATCH = 64;
const DEFAULT_TC_HANDLE = 1;
const DEFAULT_TC_PRIORITY = 1;

export interface TestRunOptions {
  readonly data: Buffer;
  /** Context in (struct xdp_md / struct __sk_buff); ctxOut is returned when a context is sent. */
  readonly ctxIn?: Buffer;
  /** Runs of the program; durationNs is the average. Default 1. */
  readonly repeat?: number;
  /** Room for the output packet. Default data.length + 1024; too small fails with ENOSPC. */
  readonly dataSizeOut?: number;
  /** xdp_md ingress ifindex / __sk_buff ifindex via ctx (resolved in `netns` when given). */
  readonly ifindex?: number;
  /** Network namespace to run in, so that `ifindex` names a device there. */
  readonly netns?: string;
}

export interface TestRunResult {
  readonly retval: number;
  readonly data: Buffer;
  readonly ctxOut?: Buffer;
  readonly durationNs: number;
}

export interface AttachOptions {
  /**
   * Path of a network namespace (e.g. /run/netns/NAME) to do the attach in; default the current
   * one. Done on a short-lived thread that enters it, so no other thread changes namespace.
   */
  readonly netns?: string;
}

export interface LiveFramesOptions {
  readonly data: Buffer;
  /** Frames to send (1 .. 2^32-1). */
  readonly repeat: number;
  /** Device the frames arrive on (XDP_TX leaves through it). */
  readonly ifindex: number;
  /** Frames per batch, 1..256. Default 64. */
  readonly batchSize?: number;
  readonly netns?: string;
}

export interface TcOptions extends AttachOptions {
  /** tc filter priority, 1..65535. Default 1. */
  readonly priority?: number;
  /** tc filter handle, >= 1. Default 1. */
  readonly handle?: number;
}

/** A program of a loaded object (BpfObject.program), by C function name. */
export class BpfProgram {
  readonly name: string;
  /** As bpftool prints it: 'xdp', 'sched_cls', ... */
  readonly type: string;
  /** Kernel program id, as `ip link` and `tc filter show` report it. */
  readonly id: number;
  readonly #native: NativeProgram;

  /** @internal Programs come from BpfObject.program(). */
  constructor(native: NativeProgram) {
    const info = native.info();
    this.#native = native;
    this.name = info.name;
    this.type = info.type;
    this.id = info.id;
  }

  /** The program's fd, valid until its object is closed (then reading it throws EBADF). */
  get fd(): number {
    return this.#native.fd();
  }

  /** BPF_PROG_RUN (bpf_prog_test_run_opts), synchronous. */
  testRun(options: TestRunOptions): TestRunResult {
    const { data } = options;
    const size = Buffer.isBuffer(data) ? data.length : 0;
    return this.#native.testRun(
      data,
      options.ctxIn,
      options.repeat ?? 1,
      options.dataSizeOut ?? size + DEFAULT_OUTPUT_HEADROOM,
      options.ifindex,
      options.netns,
    );
  }

  /**
   * BPF_PROG_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES) as a packet generator: the
   * program's verdict (XDP_TX, XDP_REDIRECT, XDP_PASS) really sends each frame. Resolves when
   * all frames are sent; durationNs is the wall time of the whole run.
   */
  async runLiveFrames(options: LiveFramesOptions): Promise<{ durationNs: number }> {
    return this.#native.runLiveFrames(
      options.data,
      options.repeat,
      options.ifindex,
      options.batchSize ?? DEFAULT_LIVE_BATCH,
      options.netns,
    );
  }

  /**
   * Attaches over netlink (outlives the process). Idempotent: attaching the same program again
   * is a no-op; a different program on the hook is replaced, also across modes.
   */
  async attachXdp(
    ifname: string,
    options: AttachOptions & { mode?: 'native' | 'generic' } = {},
  ): Promise<void> {
    return this.#native.attachXdp(ifname, options.netns, options.mode ?? 'native');
  }

  /** Removes the XDP program attached to ifname (native or generic); no-op if there is none. */
  async detachXdp(ifname: string, options: AttachOptions = {}): Promise<void> {
    return this.#native.detachXdp(ifname, options.netns);
  }

  /**
   * Creates the clsact qdisc when missing and attaches as a direct-action filter at
   * handle/priority, replacing what is there. Attaching the same program again is a no-op.
   */
  async attachTc(
    ifname: string,
    direction: 'ingress' | 'egress',
    options: TcOptions = {},
  ): Promise<void> {
    return this.#native.attachTc(
      ifname,
      options.netns,
      direction,
      options.handle ?? DEFAULT_TC_HANDLE,
      options.priority ?? DEFAULT_TC_PRIORITY,
    );
  }

  /** Removes the filter at handle/priority; no-op if absent (or if there is no clsact qdisc). */
  async detachTc(
    ifname: string,
    direction: 'ingress' | 'egress',
    options: TcOptions = {},
  ): Promise<void> {
    return this.#native.detachTc(
      ifname,
      options.netns,
      direction,
      options.handle ?? DEFAULT_TC_HANDLE,
      options.priority ?? DEFAULT_TC_PRIORITY,
    );
  }

  /** Pins at path (missing parent directories are created); the same program again is a no-op. */
  pin(path: string): void {
    this.#native.pin(path);
  }
}
