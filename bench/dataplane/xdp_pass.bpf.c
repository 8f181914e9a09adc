// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_pass: native XDP on each pod's eth0 in the Strata XDP setup. It passes everything; it is
 * there because a veth flushes the frames it sends back with XDP_TX (Strata's ARP and ICMP
 * replies) toward its peer only when that peer runs an XDP program (veth_xdp_flush): with GRO
 * alone they wait in the pod's ring until some other frame arrives.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
