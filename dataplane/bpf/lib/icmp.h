/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: the ICMP "fragmentation needed" (type 3, code 4) answer to an oversized DF packet
 * from a pod, so a too-big packet is never a silent black hole. In two steps around the hook's
 * resize: frag_needed_prepare() reads the oversized frame (20-byte IPv4 header, checked by the
 * caller) into `reply`; the hook shrinks the frame to STRATA_FRAG_NEEDED_FRAME bytes;
 * frag_needed_write() writes the reply there. Source: the pods' gateway address.
 */
#ifndef STRATA_ICMP_H
#define STRATA_ICMP_H

#include "csum.h"

struct strata_frag_needed {
	__u8 pod_mac[ETH_ALEN];
	__u8 pad[2];
	struct iphdr ip;
	struct strata_icmp_frag_needed icmp;
	__u8 quote[sizeof(struct iphdr) + 8]; /* the offending header and 8 bytes (RFC 792) */
};

/* Behind the Ethernet header: IPv4 header, ICMP header, quote. */
#define STRATA_FRAG_NEEDED_L3                                                                   \
	(sizeof(struct iphdr) + sizeof(struct strata_icmp_frag_needed) + sizeof(struct iphdr) + 8)
#define STRATA_FRAG_NEEDED_ICMP_WORDS ((STRATA_FRAG_NEEDED_L3 - sizeof(struct iphdr)) / 2)
#define STRATA_FRAG_NEEDED_FRAME ((__u32)(sizeof(struct ethhdr) + STRATA_FRAG_NEEDED_L3))

static __always_inline int frag_needed_prepare(void *data, void *data_end,
					       struct strata_frag_needed *reply)
{
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);

	if ((void *)iph + sizeof(reply->quote) > data_end)
		return -STRATA_DROP_REPLY_FAILED;
	__builtin_memcpy(reply->pod_mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(reply->quote, iph, sizeof(reply->quote));

	reply->ip.version = 4;
	reply->ip.ihl = 5;
	reply->ip.tos = 0xc0; /* internetwork control, as the kernel sends ICMP errors */
	reply->ip.tot_len = bpf_htons(STRATA_FRAG_NEEDED_L3);
	reply->ip.ttl = 64;
	reply->ip.protocol = IPPROTO_ICMP;
	reply->ip.saddr = strata_config.gw_ip;
	reply->ip.daddr = iph->saddr;
	ipv4_set_csum(&reply->ip);

	reply->icmp.type = STRATA_ICMP_DEST_UNREACH;
	reply->icmp.code = STRATA_ICMP_FRAG_NEEDED;
	reply->icmp.mtu = bpf_htons(strata_config.pod_mtu);
	reply->icmp.checksum = 0;
	/* The ICMP header and the quote behind it are contiguous: 8 + 28 bytes. */
	reply->icmp.checksum = csum_fold(csum_words(&reply->icmp, STRATA_FRAG_NEEDED_ICMP_WORDS));
	return 0;
}

static __always_inline int frag_needed_write(void *data, void *data_end,
					     const struct strata_frag_needed *reply)
{
	struct ethhdr *eth = data;

	if (data + STRATA_FRAG_NEEDED_FRAME > data_end)
		return -STRATA_DROP_REPLY_FAILED;
	__builtin_memcpy(eth->h_dest, reply->pod_mac, ETH_ALEN);
	mac_from_config(eth->h_source, strata_config.gw_mac);
	eth->h_proto = bpf_htons(ETH_P_IP);
	__builtin_memcpy(eth + 1, &reply->ip, STRATA_FRAG_NEEDED_L3);
	return 0;
}

#endif /* STRATA_ICMP_H */
