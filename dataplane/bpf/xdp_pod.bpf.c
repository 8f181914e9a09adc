// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_pod_egress: native XDP on a pod's host-side veth, the XDP mode's pod side. The same rules
 * as tc_pod_egress (lib/pod.h); encapsulation is bpf_xdp_adjust_head, and replies (ARP, ICMP
 * fragmentation needed) and delivery are bpf_redirect (a veth peer needs an XDP program or GRO
 * to take them). Replies are not XDP_TX: after XDP_TX a veth wakes its peer only if the peer
 * runs an XDP program (veth_xdp_flush), so with GRO alone a pod would never see its ARP answer;
 * a redirect back to the ingress veth takes the GRO path like any delivery. An XDP
 * program on a veth turns TSO/GSO off on its peer, so pods send MTU-sized frames; the pod must
 * also run with tx checksum offload off, because a frame that reaches XDP with a partial
 * checksum leaves the node without one.
 */
#include "lib/pod.h"
#include "lib/icmp.h"

static __always_inline int xdp_encap(struct xdp_md *ctx, const struct strata_route *route)
{
	/* The new bytes go in front: the (rewritten) frame becomes the inner one as it is. */
	if (bpf_xdp_adjust_head(ctx, -(int)STRATA_ENCAP_LEN))
		return -STRATA_DROP_ENCAP_FAILED;

	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int rc = vxlan_write_outer(data, data_end, route, data_end - data);
	if (rc < 0)
		return rc;
	return bpf_redirect(strata_config.underlay_ifindex, 0);
}

static __always_inline int xdp_frag_needed(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct strata_frag_needed reply = {};
	int rc = frag_needed_prepare(data, data_end, &reply);

	if (rc < 0)
		return rc;
	if (bpf_xdp_adjust_tail(ctx, (int)STRATA_FRAG_NEEDED_FRAME - (int)(data_end - data)))
		return -STRATA_DROP_REPLY_FAILED;
	/* adjust_tail invalidated every packet pointer. */
	rc = frag_needed_write((void *)(long)ctx->data, (void *)(long)ctx->data_end, &reply);
	if (rc < 0)
		return rc;
	return bpf_redirect(ctx->ingress_ifindex, 0);
}

SEC("xdp")
int xdp_pod_egress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct strata_flow flow = { .packets = 1 };
	struct strata_route route = {};
	struct strata_pod_frame frame = {
		.ingress_ifindex = ctx->ingress_ifindex,
		.len = data_end - data,
	};

	int rc = pod_classify(data, data_end, &frame, &flow, &route);
	switch (rc) {
	case STRATA_POD_PASS:
		rc = XDP_PASS;
		break;
	case STRATA_POD_LOCAL:
		rc = bpf_redirect(route.ifindex, 0);
		break;
	case STRATA_POD_ENCAP:
		rc = xdp_encap(ctx, &route);
		break;
	case STRATA_POD_REPLY:
		rc = bpf_redirect(ctx->ingress_ifindex, 0);
		break;
	case STRATA_POD_FRAG_NEEDED:
		rc = xdp_frag_needed(ctx);
		break;
	}
	strata_account(&flow, rc, STRATA_POINT_XDP_POD);
	return rc < 0 ? XDP_DROP : rc;
}

char LICENSE[] SEC("license") = "GPL";
