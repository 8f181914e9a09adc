/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: connection tracking for policy, shared by the pod and underlay hooks. A connection
 * is keyed by the packet that opened it (struct strata_ct_key in maps.h). ct_key_of() builds a
 * packet's key; ct_established() says whether its key or its reversed key is in strata_ct (more
 * of a connection, or its reply): such a packet skips policy, and refreshes the entry's
 * last-seen time. ct_open() records a connection after policy allowed its first packet.
 *
 * Ports: TCP, UDP and SCTP source and destination ports from the L4 header (bounds-checked; a
 * header cut short gives 0). ICMP echo: the identifier, as the source port of a request and the
 * destination port of a reply (ct_icmp_ports): a reply is its request reversed, two pings (two
 * identifiers) are two connections, and a peer's own echo request is no reply of ours even with
 * our identifier (its key {peer, pod, id, 0} reversed is {pod, peer, 0, id}, which no request
 * opens), so it is checked by policy. Every other ICMP message, and every other protocol: 0, 0
 * (an ICMP error about a tracked connection is a new flow of its own, checked by policy like
 * any). A non-first fragment carries no L4 header: its ports are 0, so it is tracked and
 * checked by policy as port 0 (a first fragment has its real ports). Policy lookups use the key's destination port, except for ICMP, whose lookups
 * use port 0 (ct_policy_port): the identifier is no port a policy can name.
 *
 * Lifetime: the value is the last time (bpf_ktime_get_ns, CLOCK_MONOTONIC) a packet of the
 * connection was seen, refreshed at most once per STRATA_CT_REFRESH_NS. The agent removes what
 * is idle too long and what the current policy no longer allows (services/agent/src/bpf); the
 * programs never expire anything themselves, and nothing here depends on the clock but that
 * timestamp. LRU eviction makes room when the map is full.
 */
#ifndef STRATA_CONNTRACK_H
#define STRATA_CONNTRACK_H

#include "ipv4.h"

#define STRATA_ICMP_ECHO_REPLY 0
#define STRATA_ICMP_ECHO_REQUEST 8

/*
 * Refresh last-seen at most once a second per entry. Writing it on every packet would dirty the
 * entry's cache line on every packet of every connection, bouncing it between the CPUs that
 * carry the two directions; the agent reaps at a granularity of seconds (timeouts of a minute
 * and more), so a timestamp up to a second old loses nothing.
 */
#define STRATA_CT_REFRESH_NS STRATA_NSEC_PER_SEC

/* The identifier of an ICMP echo request (as sport) or reply (as dport); other ICMP: none. */
static __always_inline void ct_icmp_ports(struct strata_ct_key *key, const void *l4,
					  void *data_end)
{
	/* type, code, checksum, identifier: the first 6 bytes of the ICMP header. */
	const __u8 *icmp = l4;
	if ((void *)(icmp + 6) > data_end || icmp[1] != 0)
		return;
	__be16 id = *(const __be16 *)(icmp + 4);
	if (icmp[0] == STRATA_ICMP_ECHO_REQUEST)
		key->sport = id;
	else if (icmp[0] == STRATA_ICMP_ECHO_REPLY)
		key->dport = id;
}

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
	case IPPROTO_ICMP:
		ct_icmp_ports(key, (void *)iph + hlen, data_end);
		break;
	}
}

/* The destination port policy is checked on: the key's, but 0 for ICMP (see the contract). */
static __always_inline __be16 ct_policy_port(const struct strata_ct_key *key)
{
	return key->proto == IPPROTO_ICMP ? 0 : key->dport;
}

static __always_inline void ct_touch(struct strata_ct *ct)
{
	__u64 now = bpf_ktime_get_ns();

	/* A racing refresh from another CPU writes a time just as good: no atomics needed. */
	if (now - ct->last_seen_ns >= STRATA_CT_REFRESH_NS)
		ct->last_seen_ns = now;
}

static __always_inline int ct_established(const struct strata_ct_key *key)
{
	struct strata_ct *ct = bpf_map_lookup_elem(&strata_ct, key);

	if (!ct) {
		struct strata_ct_key reply = {
			.saddr = key->daddr,
			.daddr = key->saddr,
			.sport = key->dport,
			.dport = key->sport,
			.proto = key->proto,
		};
		ct = bpf_map_lookup_elem(&strata_ct, &reply);
		if (!ct)
			return 0;
	}
	ct_touch(ct);
	return 1;
}

static __always_inline void ct_open(const struct strata_ct_key *key)
{
	struct strata_ct value = { .last_seen_ns = bpf_ktime_get_ns() };

	/* Best effort: an LRU hash evicts to make room, and a failed insert only means the
	 * connection's next packet is checked by policy again. */
	bpf_map_update_elem(&strata_ct, key, &value, BPF_ANY);
}

#endif /* STRATA_CONNTRACK_H */
