/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: what to do with a frame a pod sent, for the TC and the XDP pod hooks alike.
 * pod_classify() checks the frame, rewrites it in place where its size does not change (MACs
 * and TTL for forwarding, the whole ARP reply) and returns an enum strata_pod_action with
 * `route` and `flow` filled in, or a negative drop reason. The hook then does what only it can:
 * resize, redirect, hand to the stack.
 *
 * Rules, in order:
 *  - ARP: a request from the pod's own IP and MAC for any other address is answered with the
 *    gateway MAC (proxy ARP, as Calico does: pods route everything via 169.254.1.1). Replies,
 *    gratuitous ARP and probes are dropped; spoofed ARP is dropped as spoofing.
 *  - Anything but IPv4 and ARP is dropped (pods are IPv4-only).
 *  - Anti-spoofing: strata_locals[source IP] must exist, name the ingress veth and the source MAC.
 *  - Source and destination must share a segment (VNI); VNI 0 sends and receives nothing.
 *  - Policy (lib/policy.h), unless the packet belongs to a tracked connection: the sender's
 *    egress policy toward the destination's identity (a local or remote endpoint's, else
 *    strata_prefixes', else world) and, for a local destination, the receiver's ingress policy
 *    toward the sender's identity. Denied: dropped as POLICY_DENIED. The identity the packet
 *    leaves with is always the sender's strata_locals entry: nothing the pod sends can set it.
 *  - TTL <= 1 goes to the kernel stack, which answers with ICMP time exceeded.
 *  - Local destination: MACs rewritten, TTL decremented, delivered to its veth.
 *  - Remote destination: size-checked (below), TTL decremented, inner MACs set (router ->
 *    remote pod), encapsulated toward its VTEP.
 *  - Anything else (the node, the outside world, service VIPs) goes to the kernel stack, except
 *    UDP to a VTEP address (this node's or a known one) on the VXLAN port, and UDP fragments
 *    to one (they carry no port): behind the host's masquerading such a packet would reach a
 *    node from a known VTEP and forge any identity.
 * Size, remote destinations only: a GSO packet whose segments fit the pod MTU, or a packet of
 * at most the pod MTU, is fine. An oversized DF packet without IP options is answered with ICMP
 * fragmentation needed; any other oversized packet goes to the kernel stack (it fragments or
 * answers through the vxlan slow path).
 */
#ifndef STRATA_POD_H
#define STRATA_POD_H

#include "policy.h"
#include "vxlan.h"

enum strata_pod_action {
	STRATA_POD_PASS = 0,	    /* to the kernel stack */
	STRATA_POD_LOCAL = 1,	    /* deliver to route->ifindex */
	STRATA_POD_ENCAP = 2,	    /* encapsulate with route */
	STRATA_POD_REPLY = 3,	    /* send the frame (rewritten into a reply) back to the pod */
	STRATA_POD_FRAG_NEEDED = 4, /* answer with ICMP fragmentation needed */
};

/* What the hook knows about the frame besides its bytes. */
struct strata_pod_frame {
	__u32 ingress_ifindex;
	__u32 len;	/* frame length (beyond data_end on a non-linear skb) */
	__u32 gso_size; /* 0 unless a GSO super-packet */
	__u32 hash;	/* skb->hash, 0 if none */
};

static __always_inline int pod_pass(struct strata_flow *flow, __u32 stat)
{
	flow->stat = stat;
	flow->outcome = STRATA_OUTCOME_PASSED;
	return STRATA_POD_PASS;
}

static __always_inline int pod_arp(struct ethhdr *eth, void *data_end, __u32 ingress_ifindex,
				   struct strata_flow *flow)
{
	struct strata_arp *arp = (void *)(eth + 1);

	if ((void *)(arp + 1) > data_end)
		return -STRATA_DROP_ARP_MALFORMED;
	if (arp->htype != bpf_htons(STRATA_ARPHRD_ETHER) || arp->ptype != bpf_htons(ETH_P_IP) ||
	    arp->hlen != ETH_ALEN || arp->plen != 4)
		return -STRATA_DROP_ARP_MALFORMED;

	__be32 spa = arp->spa;
	__be32 tpa = arp->tpa;
	if (arp->op != bpf_htons(STRATA_ARPOP_REQUEST) || spa == 0 || spa == tpa)
		return -STRATA_DROP_ARP_UNANSWERED;

	struct strata_local_ep *src = bpf_map_lookup_elem(&strata_locals, &spa);
	if (!src || src->ifindex != ingress_ifindex)
		return -STRATA_DROP_SPOOFED_IP;
	if (!mac_equal(eth->h_source, src->mac) || !mac_equal(arp->sha, src->mac))
		return -STRATA_DROP_SPOOFED_MAC;
	flow->src_identity = src->identity;
	flow->vni = src->vni;

	__u8 gw_mac[ETH_ALEN];
	mac_from_config(gw_mac, strata_config.gw_mac);
	__builtin_memcpy(eth->h_dest, src->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, gw_mac, ETH_ALEN);
	arp->op = bpf_htons(STRATA_ARPOP_REPLY);
	__builtin_memcpy(arp->tha, src->mac, ETH_ALEN);
	arp->tpa = spa;
	__builtin_memcpy(arp->sha, gw_mac, ETH_ALEN);
	arp->spa = tpa;

	flow->stat = STRATA_STAT_ARP_REPLIED;
	flow->outcome = STRATA_OUTCOME_REPLIED;
	return STRATA_POD_REPLY;
}

enum pod_size {
	POD_SIZE_FITS,
	POD_SIZE_FRAG_NEEDED, /* answer with ICMP fragmentation needed */
	POD_SIZE_TOO_BIG,     /* let the kernel stack fragment or answer */
};

/* `hlen` is checked. */
static __always_inline enum pod_size pod_size_check(struct iphdr *iph, __u32 hlen, void *data_end,
					  const struct strata_pod_frame *frame)
{
	__u32 mtu = strata_config.pod_mtu;

	if (frame->gso_size) {
		__u32 l4_len = sizeof(struct udphdr); /* UDP GSO */
		if (iph->protocol == IPPROTO_TCP) {
			struct tcphdr *th = (void *)iph + hlen;
			if ((void *)(th + 1) > data_end)
				return POD_SIZE_TOO_BIG;
			l4_len = th->doff * 4;
		}
		return hlen + l4_len + frame->gso_size <= mtu ? POD_SIZE_FITS : POD_SIZE_TOO_BIG;
	}
	if (bpf_ntohs(iph->tot_len) <= mtu)
		return POD_SIZE_FITS;
	if ((iph->frag_off & bpf_htons(STRATA_IP_DF)) && hlen == sizeof(struct iphdr))
		return POD_SIZE_FRAG_NEEDED;
	return POD_SIZE_TOO_BIG;
}

static __always_inline int pod_to_local(struct ethhdr *eth, struct iphdr *iph, __u32 hlen,
					void *data_end, const struct strata_local_ep *src,
					const struct strata_local_ep *dst, struct strata_flow *flow,
					struct strata_route *route)
{
	flow->dst_identity = dst->identity;
	if (!dst->vni)
		return -STRATA_DROP_NO_SEGMENT;
	if (dst->vni != src->vni)
		return -STRATA_DROP_SEGMENT_MISMATCH;
	int rc = policy_enforce(iph, hlen, data_end, src->identity, dst->identity, dst->identity,
				src->identity, flow);
	if (rc < 0)
		return rc;
	if (iph->ttl <= 1)
		return pod_pass(flow, STRATA_STAT_PASS_TTL_EXPIRED);

	ipv4_dec_ttl(iph);
	__builtin_memcpy(eth->h_dest, dst->mac, ETH_ALEN);
	mac_from_config(eth->h_source, strata_config.gw_mac);
	route->ifindex = dst->ifindex;
	flow->stat = STRATA_STAT_FORWARDED_LOCAL;
	flow->outcome = STRATA_OUTCOME_FORWARDED;
	return STRATA_POD_LOCAL;
}

static __always_inline int pod_to_remote(struct ethhdr *eth, struct iphdr *iph, __u32 hlen,
					 void *data_end, const struct strata_pod_frame *frame,
					 const struct strata_local_ep *src,
					 const struct strata_remote_ep *dst,
					 struct strata_flow *flow, struct strata_route *route)
{
	flow->dst_identity = dst->identity;
	if (dst->vni != src->vni)
		return -STRATA_DROP_SEGMENT_MISMATCH;
	int rc = policy_enforce(iph, hlen, data_end, src->identity, dst->identity, -1, 0, flow);
	if (rc < 0)
		return rc;
	if (iph->ttl <= 1)
		return pod_pass(flow, STRATA_STAT_PASS_TTL_EXPIRED);

	enum pod_size size = pod_size_check(iph, hlen, data_end, frame);
	if (size == POD_SIZE_TOO_BIG)
		return pod_pass(flow, STRATA_STAT_PASS_OVERSIZE);
	if (size == POD_SIZE_FRAG_NEEDED) {
		flow->stat = STRATA_STAT_FRAG_NEEDED_SENT;
		flow->outcome = STRATA_OUTCOME_REPLIED;
		return STRATA_POD_FRAG_NEEDED;
	}

	ipv4_dec_ttl(iph);
	__builtin_memcpy(eth->h_dest, dst->mac, ETH_ALEN);
	mac_from_config(eth->h_source, strata_config.vtep_mac);

	route->vtep_ip = dst->vtep_ip;
	route->vni = dst->vni;
	route->src_identity = src->identity;
	route->tos = iph->tos & ~0x3;
	route->sport = vxlan_source_port(flow, frame->hash);
	if (mac_is_zero(strata_config.nexthop_mac))
		__builtin_memcpy(route->outer_dmac, dst->vtep_mac, ETH_ALEN);
	else
		mac_from_config(route->outer_dmac, strata_config.nexthop_mac);
	flow->stat = STRATA_STAT_ENCAPSULATED;
	flow->outcome = STRATA_OUTCOME_FORWARDED;
	return STRATA_POD_ENCAP;
}

/* The exception to "unknown destinations go to the kernel stack" (see the rules above). */
static __always_inline int pod_udp_to_vtep(const struct iphdr *iph, struct strata_flow *flow)
{
	if (iph->protocol != IPPROTO_UDP)
		return 0;
	if (!ipv4_is_fragment(iph) && flow->dport != bpf_htons(strata_config.vxlan_port))
		return 0;
	return flow->daddr == strata_config.vtep_ip ||
	       bpf_map_lookup_elem(&strata_vteps, &flow->daddr) != NULL;
}

static __always_inline int pod_classify(void *data, void *data_end,
					const struct strata_pod_frame *frame,
					struct strata_flow *flow, struct strata_route *route)
{
	struct ethhdr *eth = data;

	flow->direction = STRATA_DIR_FROM_POD;
	flow->bytes = frame->len;
	if ((void *)(eth + 1) > data_end)
		return -STRATA_DROP_TRUNCATED_ETH;
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return pod_arp(eth, data_end, frame->ingress_ifindex, flow);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return -STRATA_DROP_UNSUPPORTED_L3;

	struct iphdr *iph = (void *)(eth + 1);
	int hlen = ipv4_check(iph, data_end, frame->len - sizeof(*eth), frame->gso_size != 0);
	if (hlen < 0)
		return hlen;
	ipv4_flow(flow, iph, hlen, data_end);

	struct strata_local_ep *src = bpf_map_lookup_elem(&strata_locals, &flow->saddr);
	if (!src || src->ifindex != frame->ingress_ifindex)
		return -STRATA_DROP_SPOOFED_IP;
	if (!mac_equal(eth->h_source, src->mac))
		return -STRATA_DROP_SPOOFED_MAC;
	flow->src_identity = src->identity;
	flow->vni = src->vni;
	if (!src->vni)
		return -STRATA_DROP_NO_SEGMENT;

	struct strata_local_ep *local = bpf_map_lookup_elem(&strata_locals, &flow->daddr);
	if (local)
		return pod_to_local(eth, iph, hlen, data_end, src, local, flow, route);
	struct strata_remote_ep *remote = bpf_map_lookup_elem(&strata_remotes, &flow->daddr);
	if (remote)
		return pod_to_remote(eth, iph, hlen, data_end, frame, src, remote, flow, route);
	if (pod_udp_to_vtep(iph, flow))
		return -STRATA_DROP_VXLAN_FROM_POD;
	int rc = policy_enforce(iph, hlen, data_end, src->identity,
				policy_peer_identity(flow->daddr), -1, 0, flow);
	if (rc < 0)
		return rc;
	return pod_pass(flow, STRATA_STAT_PASS_UNKNOWN_DST);
}

#endif /* STRATA_POD_H */
