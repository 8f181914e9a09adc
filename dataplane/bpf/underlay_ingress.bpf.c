// SPDX-License-Identifier: GPL-2.0
/*
 * tc_ul_ingress: clsact ingress of the node's underlay interface. The default (TC) mode's
 * receive side: VXLAN-GBP from known VTEPs for a local pod of the same segment is decapsulated
 * with bpf_skb_adjust_room (GSO kept) and delivered into the pod with bpf_redirect_peer; the
 * source identity comes from the GBP group policy id. Everything else on the underlay is the
 * host's. Rules: lib/underlay.h.
 */
#include "lib/tc.h"
#include "lib/underlay.h"

/* Enough to tell host traffic from VXLAN: Ethernet, IPv4 with options, UDP. */
#define UL_PULL_LEN (sizeof(struct ethhdr) + 60 + sizeof(struct udphdr))
/* Enough to check VXLAN: outer headers, inner Ethernet, inner IPv4 with options, ports. */
#define VXLAN_PULL_LEN (STRATA_ENCAP_LEN + sizeof(struct ethhdr) + 60 + 4)

static __always_inline int tc_decap(struct __sk_buff *skb, const struct strata_delivery *delivery)
{
	/* Removes outer IPv4, UDP, VXLAN and the inner Ethernet header; the outer Ethernet header
	 * stays in front and is rewritten below. FIXED_GSO keeps gso_size. DECAP_L3_IPV4 also
	 * drops the skb's route (it was the outer packet's). */
	if (bpf_skb_adjust_room(skb, -(int)STRATA_ENCAP_LEN, BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_DECAP_L3_IPV4))
		return -STRATA_DROP_DECAP_FAILED;

	/* adjust_room invalidated every packet pointer. */
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return -STRATA_DROP_DECAP_FAILED;
	__builtin_memcpy(eth->h_dest, delivery->mac, ETH_ALEN);
	mac_from_config(eth->h_source, strata_config.gw_mac);
	eth->h_proto = bpf_htons(ETH_P_IP);
	return bpf_redirect_peer(delivery->ifindex, 0);
}

SEC("tc")
int tc_ul_ingress(struct __sk_buff *skb)
{
	struct strata_flow flow = { .packets = skb->gso_segs ?: 1 };
	struct strata_delivery delivery = {};
	int gso = skb->gso_size != 0;

	tc_pull(skb, UL_PULL_LEN);
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	/* Pull the VXLAN headers only for UDP to the VXLAN port, so host traffic is not touched. */
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	if ((void *)(iph + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IP) &&
	    iph->protocol == IPPROTO_UDP && iph->daddr == strata_config.vtep_ip) {
		tc_pull(skb, VXLAN_PULL_LEN);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}

	int rc = underlay_classify(data, data_end, skb->len, gso, &flow, &delivery);
	switch (rc) {
	case STRATA_UL_PASS:
		rc = TC_ACT_OK;
		break;
	case STRATA_UL_DECAP:
		rc = tc_decap(skb, &delivery);
		break;
	}
	strata_account(&flow, rc, STRATA_POINT_TC_UNDERLAY);
	return rc < 0 ? TC_ACT_SHOT : rc;
}

char LICENSE[] SEC("license") = "GPL";
