// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_gen: the 64-byte packet generator, run with BPF_PROG_RUN in live-frames mode
 * (BpfProgram.runLiveFrames) on the sending pod's eth0. XDP_TX there is a redirect out of that
 * device, so every frame enters the path under test at the pod's host-side veth.
 *
 * Live frames come from a page pool that recycles pages without restoring their contents, and
 * the paths under test rewrite headers in place (MACs, TTL, checksums). So the headers are
 * written again from rodata on every run, or only the first few dozen frames would be valid.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Ethernet, IPv4 and UDP headers plus the first 6 payload bytes: 48 bytes as 6 words. */
#define GEN_HEAD_WORDS 6

/* Set by the loader: the frame's first 48 bytes. */
const volatile __u64 gen_head[GEN_HEAD_WORDS];

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	__u64 *head = (void *)(long)ctx->data;

	if ((void *)(head + GEN_HEAD_WORDS) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
#pragma unroll
	for (int i = 0; i < GEN_HEAD_WORDS; i++)
		head[i] = gen_head[i];
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
