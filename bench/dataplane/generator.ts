/**
 * bench/dataplane's packet generator, a process of its own so that `taskset` can pin it (and
 * with it every thread the addon runs BPF_PROG_RUN on, and the softirq work the frames cause)
 * to one CPU. Loads xdp_gen with the frame's headers in rodata, sends `frames` copies of the
 * frame out of `ifname` in `netns` in live-frames mode, and prints {"durationNs": ...}.
 *
 *   taskset -c 0 node dist/bench/dataplane/generator.js '<GeneratorRequest as JSON>'
 */
import { ifindexOf, loadObject } from '@strata/dataplane';

export interface GeneratorRequest {
  /** The compiled xdp_gen.bpf.o. */
  readonly object: string;
  readonly netns: string;
  readonly ifname: string;
  /** The frame, hex. */
  readonly frame: string;
  readonly frames: number;
}

export interface GeneratorResult {
  readonly durationNs: number;
}

/** The bytes xdp_gen rewrites on every frame: `gen_head` in xdp_gen.bpf.c. */
const GEN_HEAD_BYTES = 48;

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '') as GeneratorRequest;
  const frame = Buffer.from(request.frame, 'hex');
  if (frame.length < GEN_HEAD_BYTES) throw new Error(`frame shorter than ${GEN_HEAD_BYTES} B`);
  const object = await loadObject(request.object, {
    rodata: { gen_head: frame.subarray(0, GEN_HEAD_BYTES) },
  });
  try {
    const ifindex = ifindexOf(request.ifname, { netns: request.netns });
    const result: GeneratorResult = await object.program('xdp_gen').runLiveFrames({
      data: frame,
      repeat: request.frames,
      ifindex,
      netns: request.netns,
    });
    process.stdout.write(`${JSON.stringify({ durationNs: result.durationNs })}\n`);
  } finally {
    object.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
