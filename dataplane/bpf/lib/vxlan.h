/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: VXLAN-GBP encapsulation pieces shared by TC and XDP. struct strata_route is what the
 * pod-side classifier decided; vxlan_source_port() picks the outer UDP source port;
 * vxlan_write_outer() writes the 50 outer bytes (Ethernet, IPv4, UDP, VXLAN-GBP) at `data`,
 * for a frame of `frame_len` bytes in all, and leaves the inner frame behind them untouched.
 */
#ifndef STRATA_VXLAN_H
#define STRATA_VXLAN_H

#include "csum.h"
#include "counters.h"

struct strata_route {
	__u32 ifindex;	      /* local delivery: destination pod's host-side veth */
	__be32 vtep_ip;	      /* encapsulation: outer destination */
	__u32 vni;	      /* encapsulation: segment */
	__u16 src_identity;   /* encapsulation: GBP group policy id */
	__be16 sport;	      /* encapsulation: outer UDP source port */
	__u8 tos;	      /* encapsulation: outer TOS (the inner DSCP, ECN not copied) */
	__u8 outer_dmac[ETH_ALEN];
};

/*
 * Entropy for ECMP and RSS (RFC 7348: 49152-65535). The skb's own hash when it has one (TCP sets
 * it from the socket); bpf_get_hash_recalc() would run the flow dissector per packet. Else a
 * hash of the flow key, mirrored by the tests: words are read as the CPU reads the packet bytes.
 */
static __always_inline __be16 vxlan_source_port(const struct strata_flow *flow, __u32 hash)
{
	if (!hash) {
		hash = flow->saddr ^ flow->daddr ^ flow->protocol ^
		       ((__u32)flow->sport | ((__u32)flow->dport << 16));
		hash ^= hash >> 16;
		hash *= 0x45d9f3b;
		hash ^= hash >> 16;
	}
	return bpf_htons(49152 | (hash & 0x3fff));
}

static __always_inline int vxlan_write_outer(void *data, void *data_end,
					     const struct strata_route *route, __u32 frame_len)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct strata_vxlanhdr *vx = (void *)(udp + 1);

	if ((void *)(vx + 1) > data_end)
		return -STRATA_DROP_ENCAP_FAILED;

	__builtin_memcpy(eth->h_dest, route->outer_dmac, ETH_ALEN);
	mac_from_config(eth->h_source, strata_config.vtep_mac);
	eth->h_proto = bpf_htons(ETH_P_IP);

	ip->version = 4;
	ip->ihl = 5;
	ip->tos = route->tos;
	/* For GSO skbs the stack rewrites both lengths per segment. */
	ip->tot_len = bpf_htons(frame_len - sizeof(*eth));
	ip->id = 0; /* DF is set (RFC 6864) */
	ip->frag_off = bpf_htons(STRATA_IP_DF);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = strata_config.vtep_ip;
	ip->daddr = route->vtep_ip;
	ipv4_set_csum(ip);

	udp->source = route->sport;
	udp->dest = bpf_htons(strata_config.vxlan_port);
	udp->len = bpf_htons(frame_len - sizeof(*eth) - sizeof(*ip));
	udp->check = 0; /* allowed over IPv4; keeps GSO type UDP_TUNNEL, not UDP_TUNNEL_CSUM */

	vx->flags = bpf_htonl(STRATA_VXLAN_F_G | STRATA_VXLAN_F_I | route->src_identity);
	vx->vni = bpf_htonl(route->vni << 8);
	return 0;
}

#endif /* STRATA_VXLAN_H */
