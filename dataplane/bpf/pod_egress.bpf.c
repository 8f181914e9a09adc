// SPDX-License-Identifier: GPL-2.0
/*
 * tc_pod_egress: clsact ingress of a pod's host-side veth, so every frame the pod sends. The
 * default (TC) mode's pod side: anti-spoofing, ARP for the gateway, local delivery with
 * bpf_redirect_peer, VXLAN-GBP encapsulation with bpf_skb_adjust_room (GSO kept) toward the
 * remote VTEP out of the underlay. Rules: lib/pod.h.
 */
#include "lib/tc.h"
#include "lib/pod.h"
#include "lib/icmp.h"

/* What pod_classify reads: Ethernet, IPv4 with options, a TCP header without options. */
#define POD_PULL_LEN (sizeof(struct ethhdr) + 60 + sizeof(struct tcphdr))

/*
 * Room after the MAC header for outer IPv4, UDP and VXLAN plus the inner Ethernet header. The
 * ENCAP flags set skb->encapsulation, the inner header offsets and inner_protocol TEB, so UDP
 * tunnel GSO segments the inner frame; FIXED_GSO keeps gso_size (the pod MTU left the room).
 */
#define ENCAP_FLAGS                                                                             \
	(BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP | \
	 BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN))

static __always_inline int tc_encap(struct __sk_buff *skb, const struct strata_route *route)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct ethhdr inner;

	if ((void *)(eth + 1) > data_end)
		return -STRATA_DROP_ENCAP_FAILED;
	/* The room goes behind the MAC header: the original header becomes the outer one, so keep
	 * a copy (already rewritten by pod_classify) to write as the inner header. */
	__builtin_memcpy(&inner, eth, sizeof(inner));
	if (bpf_skb_adjust_room(skb, STRATA_ENCAP_LEN, BPF_ADJ_ROOM_MAC, ENCAP_FLAGS))
		return -STRATA_DROP_ENCAP_FAILED;

	/* adjust_room invalidated every packet pointer: reload and check again. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	struct ethhdr *ieth = data + STRATA_ENCAP_LEN;
	if ((void *)(ieth + 1) > data_end)
		return -STRATA_DROP_ENCAP_FAILED;
	__builtin_memcpy(ieth, &inner, sizeof(inner));
	int rc = vxlan_write_outer(data, data_end, route, skb->len);
	if (rc < 0)
		return rc;
	return bpf_redirect(strata_config.underlay_ifindex, 0);
}

static __always_inline int tc_frag_needed(struct __sk_buff *skb)
{
	struct strata_frag_needed reply = {};
	int rc = frag_needed_prepare((void *)(long)skb->data, (void *)(long)skb->data_end, &reply);

	if (rc < 0)
		return rc;
	if (bpf_skb_change_tail(skb, STRATA_FRAG_NEEDED_FRAME, 0))
		return -STRATA_DROP_REPLY_FAILED;
	/* change_tail invalidated every packet pointer. */
	rc = frag_needed_write((void *)(long)skb->data, (void *)(long)skb->data_end, &reply);
	if (rc < 0)
		return rc;
	return bpf_redirect(skb->ingress_ifindex, 0);
}

SEC("tc")
int tc_pod_egress(struct __sk_buff *skb)
{
	struct strata_flow flow = { .packets = skb->gso_segs ?: 1 };
	struct strata_route route = {};
	struct strata_pod_frame frame = {
		.ingress_ifindex = skb->ingress_ifindex,
		.len = skb->len,
		.gso_size = skb->gso_size,
		.hash = skb->hash,
	};

	tc_pull(skb, POD_PULL_LEN);
	int rc = pod_classify((void *)(long)skb->data, (void *)(long)skb->data_end, &frame, &flow,
			      &route);
	switch (rc) {
	case STRATA_POD_PASS:
		rc = TC_ACT_OK;
		break;
	case STRATA_POD_LOCAL:
		rc = bpf_redirect_peer(route.ifindex, 0);
		break;
	case STRATA_POD_ENCAP:
		rc = tc_encap(skb, &route);
		break;
	case STRATA_POD_REPLY:
		rc = bpf_redirect(skb->ingress_ifindex, 0);
		break;
	case STRATA_POD_FRAG_NEEDED:
		rc = tc_frag_needed(skb);
		break;
	}
	strata_account(&flow, rc, STRATA_POINT_TC_POD);
	return rc < 0 ? TC_ACT_SHOT : rc;
}

char LICENSE[] SEC("license") = "GPL";
