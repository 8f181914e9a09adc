/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: IPv4 header validation and flow-key extraction over packet pointers, shared by the
 * TC and XDP hooks. ipv4_check() returns the header length (20-60) or a negative drop reason;
 * after it, `iph` and its options are within data_end. ipv4_flow() fills the flow's addresses,
 * protocol and, for packets that are not fragments, ports.
 */
#ifndef STRATA_IPV4_H
#define STRATA_IPV4_H

#include "counters.h"

/*
 * l3_len: bytes from `iph` to the end of the frame (may exceed data_end on a non-linear skb).
 * gso: the packet is a GSO super-packet, whose total length may be 0 (BIG TCP) or the sum of
 * its segments; either way it is not checked against l3_len.
 */
static __always_inline int ipv4_check(struct iphdr *iph, void *data_end, __u32 l3_len, int gso)
{
	if ((void *)(iph + 1) > data_end)
		return -STRATA_DROP_TRUNCATED_IPV4;
	if (iph->version != 4 || iph->ihl < 5)
		return -STRATA_DROP_MALFORMED_IPV4;

	__u32 hlen = iph->ihl * 4;
	if ((void *)iph + hlen > data_end)
		return -STRATA_DROP_TRUNCATED_IPV4;
	__u32 tot_len = bpf_ntohs(iph->tot_len);
	if (gso)
		return hlen;
	if (tot_len < hlen || tot_len > l3_len)
		return -STRATA_DROP_MALFORMED_IPV4;
	return hlen;
}

static __always_inline int ipv4_is_fragment(const struct iphdr *iph)
{
	return (iph->frag_off & bpf_htons(STRATA_IP_MF | STRATA_IP_OFFSET)) != 0;
}

/*
 * Addresses, protocol and, for unfragmented packets, ports into `flow`. Every fragment of a
 * datagram (the first one too) gets ports 0, so all of them hash and account alike.
 * ICMP puts its type and code bytes into dport.
 */
static __always_inline void ipv4_flow(struct strata_flow *flow, struct iphdr *iph, __u32 hlen,
				      void *data_end)
{
	flow->saddr = iph->saddr;
	flow->daddr = iph->daddr;
	flow->protocol = iph->protocol;
	flow->has_ip = 1;
	flow->sport = 0;
	flow->dport = 0;
	if (ipv4_is_fragment(iph))
		return;

	__be16 *l4 = (void *)iph + hlen;
	switch (iph->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		if ((void *)(l4 + 2) <= data_end) {
			flow->sport = l4[0];
			flow->dport = l4[1];
		}
		break;
	case IPPROTO_ICMP:
		if ((void *)(l4 + 1) <= data_end)
			flow->dport = l4[0];
		break;
	}
}

#endif /* STRATA_IPV4_H */
