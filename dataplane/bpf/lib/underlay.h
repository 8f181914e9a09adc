/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: what to do with a frame that arrived on the underlay, for the TC and the XDP
 * underlay hooks alike. underlay_classify() returns an enum strata_ul_action with `delivery` and
 * `flow` filled in, or a negative drop reason; it never changes the frame. The hook decapsulates
 * (removes STRATA_ENCAP_LEN bytes), writes the delivery MACs and redirects.
 *
 * Rules, in order:
 *  - Not IPv4, not UDP, or not to this node's VTEP address: the kernel stack's (host traffic).
 *  - A truncated or malformed outer IPv4 header: dropped (the stack would drop it too).
 *  - Outer fragments: a first fragment to the VXLAN port must come from a known VTEP (else
 *    dropped); then it and every non-first fragment go to the kernel stack, which reassembles
 *    for the vxlan slow path. Strata never sends them (DF), so they are rare. Dropping an
 *    unknown VTEP's first fragment makes its whole datagram fail reassembly.
 *  - UDP to another port: the stack's.
 *  - VXLAN to us: 20-byte outer IPv4 header, UDP length = IPv4 payload length, I flag, a
 *    known VTEP, the GBP extension (unless that VTEP is STRATA_VTEP_F_NO_GBP: identity 0),
 *    inner IPv4 for a local endpoint whose VNI equals the packet's. Otherwise dropped with the
 *    reason.
 *  - Policy (lib/policy.h), unless the packet belongs to a tracked connection: the receiver's
 *    ingress policy toward the source identity from the GBP group policy id (0 from a NO_GBP
 *    VTEP). Denied: dropped as POLICY_DENIED. Only a known VTEP's packets get this far, and
 *    a pod cannot send VXLAN to a VTEP address (lib/pod.h), so the identity is the sending
 *    node's word for its pod.
 *  - TTL is not decremented here: the sending node did, once, for the whole overlay hop.
 */
#ifndef STRATA_UNDERLAY_H
#define STRATA_UNDERLAY_H

#include "policy.h"

enum strata_ul_action {
	STRATA_UL_PASS = 0,  /* to the kernel stack */
	STRATA_UL_DECAP = 1, /* decapsulate and deliver to delivery->ifindex */
};

struct strata_delivery {
	__u32 ifindex;
	__u8 mac[ETH_ALEN];
};

static __always_inline int underlay_pass(struct strata_flow *flow, __u32 stat)
{
	flow->stat = stat;
	flow->outcome = STRATA_OUTCOME_PASSED;
	return STRATA_UL_PASS;
}

static __always_inline int underlay_fragment(struct iphdr *oip, __u32 hlen, void *data_end,
					     struct strata_flow *flow)
{
	struct udphdr *udp = (void *)oip + hlen;

	if (oip->frag_off & bpf_htons(STRATA_IP_OFFSET))
		return underlay_pass(flow, STRATA_STAT_PASS_OUTER_FRAGMENT);
	if ((void *)(udp + 1) > data_end)
		return -STRATA_DROP_TRUNCATED_UDP;
	if (udp->dest != bpf_htons(strata_config.vxlan_port))
		return underlay_pass(flow, STRATA_STAT_PASS_NOT_OVERLAY);
	ipv4_flow(flow, oip, hlen, data_end);
	if (!bpf_map_lookup_elem(&strata_vteps, &flow->saddr))
		return -STRATA_DROP_UNKNOWN_VTEP;
	return underlay_pass(flow, STRATA_STAT_PASS_OUTER_FRAGMENT);
}

/* len: frame length; gso: a GRO/GSO super-packet (lengths not checked against len). */
static __always_inline int underlay_classify(void *data, void *data_end, __u32 len, int gso,
					     struct strata_flow *flow,
					     struct strata_delivery *delivery)
{
	struct ethhdr *eth = data;

	flow->direction = STRATA_DIR_FROM_OVERLAY;
	flow->bytes = len;
	if ((void *)(eth + 1) > data_end)
		return -STRATA_DROP_TRUNCATED_ETH;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return underlay_pass(flow, STRATA_STAT_PASS_NOT_OVERLAY);

	struct iphdr *oip = (void *)(eth + 1);
	int hlen = ipv4_check(oip, data_end, len - sizeof(*eth), gso);
	if (hlen < 0)
		return hlen;
	if (oip->protocol != IPPROTO_UDP || oip->daddr != strata_config.vtep_ip)
		return underlay_pass(flow, STRATA_STAT_PASS_NOT_OVERLAY);
	if (ipv4_is_fragment(oip))
		return underlay_fragment(oip, hlen, data_end, flow);

	struct udphdr *oudp = (void *)oip + hlen;
	if ((void *)(oudp + 1) > data_end)
		return -STRATA_DROP_TRUNCATED_UDP;
	if (oudp->dest != bpf_htons(strata_config.vxlan_port))
		return underlay_pass(flow, STRATA_STAT_PASS_NOT_OVERLAY);

	/* VXLAN for this node from here on; drops are recorded with the outer flow until the
	 * inner header parses. */
	ipv4_flow(flow, oip, hlen, data_end);
	if (hlen != sizeof(struct iphdr))
		return -STRATA_DROP_MALFORMED_VXLAN; /* outer options: no VTEP sends them */

	/* Constant offsets from here on (outer IPv4 is 20 bytes). */
	struct udphdr *udp = (void *)(oip + 1);
	struct strata_vxlanhdr *vx = (void *)(udp + 1);
	struct ethhdr *ieth = (void *)(vx + 1);
	if ((void *)(vx + 1) > data_end)
		return -STRATA_DROP_TRUNCATED_VXLAN;
	/* A whole datagram: UDP and IPv4 must agree on its length (GRO keeps them in step too, but
	 * a super-packet's may be 0). A short frame is caught by the bounds checks below. */
	if (!gso && bpf_ntohs(udp->len) != bpf_ntohs(oip->tot_len) - sizeof(*oip))
		return -STRATA_DROP_MALFORMED_VXLAN;
	__u32 vx_flags = bpf_ntohl(vx->flags);
	if (!(vx_flags & STRATA_VXLAN_F_I))
		return -STRATA_DROP_MALFORMED_VXLAN;

	struct strata_vtep *vtep = bpf_map_lookup_elem(&strata_vteps, &flow->saddr);
	if (!vtep)
		return -STRATA_DROP_UNKNOWN_VTEP;
	if (vx_flags & STRATA_VXLAN_F_G)
		flow->src_identity = vx_flags & STRATA_VXLAN_GPID_MASK;
	else if (!(vtep->flags & STRATA_VTEP_F_NO_GBP))
		return -STRATA_DROP_MISSING_GBP;
	__u32 vni = bpf_ntohl(vx->vni) >> 8;
	flow->vni = vni;

	if ((void *)(ieth + 1) > data_end)
		return -STRATA_DROP_TRUNCATED_VXLAN;
	if (ieth->h_proto != bpf_htons(ETH_P_IP))
		return -STRATA_DROP_INNER_NOT_IPV4;
	struct iphdr *iip = (void *)(ieth + 1);
	__u32 inner_len = len - STRATA_ENCAP_LEN;
	hlen = ipv4_check(iip, data_end, inner_len - sizeof(*ieth), gso);
	if (hlen < 0)
		return hlen;
	ipv4_flow(flow, iip, hlen, data_end);
	flow->bytes = inner_len;

	struct strata_local_ep *ep = bpf_map_lookup_elem(&strata_locals, &flow->daddr);
	if (!ep)
		return -STRATA_DROP_NO_LOCAL_EP;
	flow->dst_identity = ep->identity;
	if (!ep->vni || ep->vni != vni)
		return -STRATA_DROP_VNI_MISMATCH;
	int rc = policy_enforce(iip, hlen, data_end, -1, 0, ep->identity, flow->src_identity, flow);
	if (rc < 0)
		return rc;

	delivery->ifindex = ep->ifindex;
	__builtin_memcpy(delivery->mac, ep->mac, ETH_ALEN);
	flow->stat = STRATA_STAT_DECAPSULATED;
	flow->outcome = STRATA_OUTCOME_FORWARDED;
	return STRATA_UL_DECAP;
}

#endif /* STRATA_UNDERLAY_H */
