/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: the first include of every Strata BPF program. Kernel uapi headers, the wire
 * headers the uapi lacks (VXLAN-GBP, Ethernet/IPv4 ARP), protocol constants and the helper
 * flags this system's 6.1 uapi headers do not know yet. No maps, no state, no config.
 */
#ifndef STRATA_COMMON_H
#define STRATA_COMMON_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* 6.3+ (Debian 12 ships 6.1 uapi headers); the kernel we run is newer. */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#endif

/* From linux/if_arp.h and linux/icmp.h, which drag in libc headers. */
#define STRATA_ARPHRD_ETHER 1
#define STRATA_ARPOP_REQUEST 1
#define STRATA_ARPOP_REPLY 2
#define STRATA_ICMP_DEST_UNREACH 3
#define STRATA_ICMP_FRAG_NEEDED 4

/* ICMP destination unreachable, code fragmentation needed (RFC 1191). */
struct strata_icmp_frag_needed {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 unused;
	__be16 mtu;
};

#define STRATA_NSEC_PER_SEC 1000000000ULL

/* IPv4 frag_off bits (host order after bpf_ntohs). */
#define STRATA_IP_DF 0x4000
#define STRATA_IP_MF 0x2000
#define STRATA_IP_OFFSET 0x1fff

/* VXLAN with the Group Based Policy extension (draft-smith-vxlan-group-policy). */
struct strata_vxlanhdr {
	__be32 flags; /* G(31) I(27) D(22) A(19), group policy id (15..0) */
	__be32 vni;   /* VNI (31..8) | reserved (7..0) */
};

#define STRATA_VXLAN_F_G 0x80000000U /* group policy id present */
#define STRATA_VXLAN_F_I 0x08000000U /* VNI valid */
#define STRATA_VXLAN_GPID_MASK 0xffffU

/*
 * Bytes in front of the inner Ethernet header of an encapsulated frame: outer Ethernet, IPv4
 * (no options), UDP and VXLAN. 50, also the number the TC path inserts after the original MAC
 * header (outer IPv4, UDP, VXLAN and the inner Ethernet header that moves behind them).
 */
#define STRATA_ENCAP_LEN                                                                        \
	((__u32)(sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr) +         \
		 sizeof(struct strata_vxlanhdr)))

/* ARP for Ethernet/IPv4 (RFC 826), the only kind pods send. */
struct strata_arp {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__be32 spa;
	__u8 tha[ETH_ALEN];
	__be32 tpa;
} __attribute__((packed));

static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) |
		(a[5] ^ b[5])) == 0;
}

static __always_inline int mac_is_zero(const volatile __u8 *a)
{
	return (a[0] | a[1] | a[2] | a[3] | a[4] | a[5]) == 0;
}

/*
 * Copies a MAC out of the const volatile config. A plain memcpy would have to cast the
 * volatile away, and clang would then fold the compiled-in default instead of reading the
 * value the loader wrote into .rodata.
 */
static __always_inline void mac_from_config(__u8 *dst, const volatile __u8 *src)
{
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++)
		dst[i] = src[i];
}

#endif /* STRATA_COMMON_H */
