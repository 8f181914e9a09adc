// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_ul_ingress: native XDP on the node's underlay interface, the XDP mode's receive side. The
 * same checks as tc_ul_ingress (lib/underlay.h); decapsulation is bpf_xdp_adjust_head and
 * delivery is bpf_redirect to the pod's host-side veth, whose peer (the pod's eth0) needs an
 * XDP program or GRO to take redirected frames. No GSO in this mode: frames are MTU-sized.
 */
#include "lib/underlay.h"

static __always_inline int xdp_decap(struct xdp_md *ctx, const struct strata_delivery *delivery)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *ieth = data + STRATA_ENCAP_LEN;

	/* The inner Ethernet header becomes the frame's: rewrite it before dropping the outer
	 * headers in front of it. */
	if ((void *)(ieth + 1) > data_end)
		return -STRATA_DROP_DECAP_FAILED;
	__builtin_memcpy(ieth->h_dest, delivery->mac, ETH_ALEN);
	mac_from_config(ieth->h_source, strata_config.gw_mac);
	if (bpf_xdp_adjust_head(ctx, STRATA_ENCAP_LEN))
		return -STRATA_DROP_DECAP_FAILED;
	return bpf_redirect(delivery->ifindex, 0);
}

SEC("xdp")
int xdp_ul_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct strata_flow flow = { .packets = 1 };
	struct strata_delivery delivery = {};

	int rc = underlay_classify(data, data_end, data_end - data, 0, &flow, &delivery);
	switch (rc) {
	case STRATA_UL_PASS:
		rc = XDP_PASS;
		break;
	case STRATA_UL_DECAP:
		rc = xdp_decap(ctx, &delivery);
		break;
	}
	strata_account(&flow, rc, STRATA_POINT_XDP_UNDERLAY);
	return rc < 0 ? XDP_DROP : rc;
}

char LICENSE[] SEC("license") = "GPL";
