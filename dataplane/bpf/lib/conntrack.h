/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: connection tracking for policy, shared by the pod and underlay hooks. A connection
 * is keyed by the packet that opened it (struct strata_ct_key in maps.h). ct_key_of() builds a
 * packet's key; ct_established() says whether its key or its reversed key is in strata_ct (more
 * of a connection, or its reply): such a packet skips policy. ct_open() records a connection
 * after policy allowed its first packet.
 *
 * Ports: TCP, UDP and SCTP source and destination ports from the L4 header (bounds-checked; a
 * header cut short gives 0); 0 for every other protocol (ICMP included, so an echo reply is the
 * echo request reversed). A non-first fragment carries no L4 header: its ports are 0, so it is
 * tracked and checked by policy as port 0 (a first fragment has its real ports). Policy lookups
 * use the same destination port. Without ports, ICMP echo both ways is one connection (a
 * peer's echo request after the pod's passes as its reply), and an ICMP error about a tracked
 * connection is a new flow of its own (checked by policy like any).
 *
 * No timeouts: an entry lives until LRU eviction, or until the agent clears the map when the
 * policy or prefix tables change (so a connection policy no longer allows cannot outlive the
 * change by its entry).
 */
#ifndef STRATA_CONNTRACK_H
#define STRATA_CONNTRACK_H

#include "ipv4.h"

/* `iph` and its `hlen` header bytes are checked (ipv4_check). */
static __always_inline void ct_key_of(struct strata_ct_key *key, const struct iphdr *iph,
				      __u32 hlen, void *data_end)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->saddr = iph->saddr;
	key->daddr = iph->daddr;
	key->proto = iph->protocol;
	if (iph->frag_off & bpf_htons(STRATA_IP_OFFSET))
		return;
	switch (iph->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP: {
		__be16 *ports = (void *)iph + hlen;
		if ((void *)(ports + 2) <= data_end) {
			key->sport = ports[0];
			key->dport = ports[1];
		}
		break;
	}
	}
}

static __always_inline int ct_established(const struct strata_ct_key *key)
{
	if (bpf_map_lookup_elem(&strata_ct, key))
		return 1;
	struct strata_ct_key reply = {
		.saddr = key->daddr,
		.daddr = key->saddr,
		.sport = key->dport,
		.dport = key->sport,
		.proto = key->proto,
	};
	return bpf_map_lookup_elem(&strata_ct, &reply) != NULL;
}

static __always_inline void ct_open(const struct strata_ct_key *key)
{
	struct strata_ct value = { .opened_ns = bpf_ktime_get_ns() };

	/* Best effort: an LRU hash evicts to make room, and a failed insert only means the
	 * connection's next packet is checked by policy again. */
	bpf_map_update_elem(&strata_ct, key, &value, BPF_ANY);
}

#endif /* STRATA_CONNTRACK_H */
