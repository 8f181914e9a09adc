/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: policy enforcement for the pod and underlay hooks, over the tables the agent
 * compiles (docs/policy.md "Forwarding tables", maps.h strata_policy and strata_prefixes).
 *
 *  - policy_peer_identity(addr): the identity of an address that is no local or remote
 *    endpoint (those maps carry their identity): the longest prefix in strata_prefixes, else
 *    WORLD (2).
 *  - policy_check(dir, local, peer, key, flow): one direction's verdict for the local endpoint
 *    with identity `local` and a peer with identity `peer`, on (key->proto, ct_policy_port). Two
 *    lookups: the longest match for the peer's own rows (every peer that has rows has a `*`
 *    protocol row, so any hit is its answer), else the `*` peer's rows; neither: nothing selects
 *    the endpoint in that direction, allowed and not counted. A hit counts the packet in
 *    strata_verdicts under its rule as allowed or denied and, where the staged verdict differs,
 *    under the staged rule as "would deny" or "would allow". The staged verdict never changes
 *    what happens to the packet. Returns 0 (allowed) or -STRATA_DROP_POLICY_DENIED.
 *  - policy_enforce(...): conntrack and one or two directions for one packet: a packet of a
 *    tracked connection (either way) skips policy; otherwise each direction must allow, and an
 *    allowed packet opens its connection (lib/conntrack.h).
 */
#ifndef STRATA_POLICY_H
#define STRATA_POLICY_H

#include "conntrack.h"

static __always_inline __u32 policy_peer_identity(__be32 addr)
{
	struct strata_prefix_key key = { .prefixlen = 32, .addr = addr };
	struct strata_prefix *prefix = bpf_map_lookup_elem(&strata_prefixes, &key);

	return prefix ? prefix->identity : STRATA_IDENTITY_WORLD;
}

static __always_inline void policy_count(__u32 rule, __u32 kind, const struct strata_flow *flow)
{
	struct strata_verdict_key key = { .rule = rule, .kind = kind };
	struct strata_verdict_count *count = bpf_map_lookup_elem(&strata_verdicts, &key);

	if (!count) {
		struct strata_verdict_count first = { .packets = flow->packets, .bytes = flow->bytes };
		/* Another CPU may have created the key since the lookup: add to its entry. */
		if (!bpf_map_update_elem(&strata_verdicts, &key, &first, BPF_NOEXIST))
			return;
		count = bpf_map_lookup_elem(&strata_verdicts, &key);
		if (!count)
			return;
	}
	count->packets += flow->packets;
	count->bytes += flow->bytes;
}

static __always_inline int policy_check(__u8 dir, __u32 local, __u32 peer,
					const struct strata_ct_key *ct,
					const struct strata_flow *flow)
{
	struct strata_policy_key key = {
		.prefixlen = STRATA_POLICY_PREFIX_PORT,
		.local = bpf_htonl(local),
		.peer = bpf_htonl(peer),
		.dir = dir,
		.proto = ct->proto,
		.port = ct_policy_port(ct),
	};
	struct strata_policy *entry = bpf_map_lookup_elem(&strata_policy, &key);

	if (!entry) {
		key.peer = bpf_htonl(STRATA_POLICY_PEER_ANY);
		entry = bpf_map_lookup_elem(&strata_policy, &key);
		if (!entry)
			return 0;
	}
	int allowed = entry->verdict == STRATA_VERDICT_ALLOW;
	int staged_allowed = entry->staged_verdict == STRATA_VERDICT_ALLOW;
	/* Read before counting: the map value may change under us, the decision must not. */
	__u32 rule = entry->rule;
	__u32 staged_rule = entry->staged_rule;

	policy_count(rule, allowed ? STRATA_VERDICT_KIND_ALLOWED : STRATA_VERDICT_KIND_DENIED, flow);
	if (allowed != staged_allowed)
		policy_count(staged_rule,
			     allowed ? STRATA_VERDICT_KIND_STAGED_WOULD_DENY
				     : STRATA_VERDICT_KIND_STAGED_WOULD_ALLOW,
			     flow);
	return allowed ? 0 : -STRATA_DROP_POLICY_DENIED;
}

/*
 * One packet through conntrack and policy. `egress_local`: the sender's identity when it is a
 * local pod (egress policy at this node), `ingress_local`: the receiver's when it is a local pod
 * (ingress policy at this node); a negative value skips that direction. `src_peer`/`dst_peer`:
 * the identities each side is seen as by the other's policy.
 */
static __always_inline int policy_enforce(const struct iphdr *iph, __u32 hlen, void *data_end,
					  long egress_local, __u32 dst_peer, long ingress_local,
					  __u32 src_peer, const struct strata_flow *flow)
{
	struct strata_ct_key ct;

	ct_key_of(&ct, iph, hlen, data_end);
	if (ct_established(&ct))
		return 0;
	if (egress_local >= 0) {
		int rc = policy_check(STRATA_POLICY_EGRESS, egress_local, dst_peer, &ct, flow);
		if (rc < 0)
			return rc;
	}
	if (ingress_local >= 0) {
		int rc = policy_check(STRATA_POLICY_INGRESS, ingress_local, src_peer, &ct, flow);
		if (rc < 0)
			return rc;
	}
	ct_open(&ct);
	return 0;
}

#endif /* STRATA_POLICY_H */
