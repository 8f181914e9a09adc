/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: Internet checksums (RFC 1071) over small fixed-size regions, and the IPv4 TTL
 * decrement with its incremental checksum update (RFC 1624). Lengths are compile-time constants
 * so the loops unroll; callers bounds-check the memory first.
 */
#ifndef STRATA_CSUM_H
#define STRATA_CSUM_H

#include "common.h"

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* One's-complement sum of `words` 16-bit words; `words` must be a constant. */
static __always_inline __u32 csum_words(const void *p, const int words)
{
	const __u16 *w = p;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < words; i++)
		sum += w[i];
	return sum;
}

/* Fills in the checksum of a 20-byte IPv4 header. */
static __always_inline void ipv4_set_csum(struct iphdr *iph)
{
	iph->check = 0;
	iph->check = csum_fold(csum_words(iph, sizeof(*iph) / 2));
}

/* Like the kernel's ip_decrease_ttl(). The caller checked ttl > 1. */
static __always_inline void ipv4_dec_ttl(struct iphdr *iph)
{
	__u32 check = iph->check;

	check += bpf_htons(0x0100);
	iph->check = (__u16)(check + (check >= 0xffff));
	iph->ttl--;
}

#endif /* STRATA_CSUM_H */
