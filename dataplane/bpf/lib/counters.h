/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: the one exit path of every program. Parsing fills a struct strata_flow; the hook's
 * logic returns either a hook action (>= 0, with flow->stat and flow->outcome saying what it
 * was) or a negative enum strata_drop_reason. strata_account() turns that into the drop or
 * stat counter, the identity-pair traffic counter (forwarded packets only) and, sampled and
 * rate-limited, a flow record.
 */
#ifndef STRATA_COUNTERS_H
#define STRATA_COUNTERS_H

#include "config.h"

/* What the exit path needs to know about one packet; zero-initialised by each hook. */
struct strata_flow {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 protocol;
	__u8 has_ip;	/* addresses above are valid: the packet is worth a flow record */
	__u8 outcome;	/* enum strata_outcome, when not dropped */
	__u8 direction; /* enum strata_direction */
	__u16 src_identity;
	__u16 dst_identity;
	__u32 vni;
	__u32 stat;    /* enum strata_stat, when not dropped */
	__u32 bytes;   /* frame bytes to account (inner frame for VXLAN) */
	__u32 packets; /* GSO segments, at least 1 */
};

static __always_inline void count_drop(__u32 reason)
{
	__u64 *count = bpf_map_lookup_elem(&strata_drops, &reason);

	if (count)
		*count += 1;
}

static __always_inline void count_stat(__u32 stat)
{
	__u64 *count = bpf_map_lookup_elem(&strata_stats, &stat);

	if (count)
		*count += 1;
}

static __always_inline void count_traffic(const struct strata_flow *flow)
{
	struct strata_traffic_key key = {
		.src_identity = flow->src_identity,
		.dst_identity = flow->dst_identity,
		.direction = flow->direction,
	};
	struct strata_traffic *value = bpf_map_lookup_elem(&strata_traffic, &key);

	if (value) {
		value->packets += flow->packets;
		value->bytes += flow->bytes;
		return;
	}
	struct strata_traffic first = { .packets = flow->packets, .bytes = flow->bytes };
	/* Another CPU may have created the key since the lookup: add to its entry (this CPU's
	 * slot of it) instead. */
	if (bpf_map_update_elem(&strata_traffic, &key, &first, BPF_NOEXIST)) {
		value = bpf_map_lookup_elem(&strata_traffic, &key);
		if (value) {
			value->packets += flow->packets;
			value->bytes += flow->bytes;
		}
	}
}

/* 1 in flow_sample_every packets per CPU, at most flow_max_per_sec records per CPU. */
static __always_inline void record_flow(const struct strata_flow *flow, __u8 point, __u8 outcome,
					__u8 code)
{
	__u32 every = strata_config.flow_sample_every;
	__u32 zero = 0;

	if (!every || !flow->has_ip)
		return;
	struct strata_flow_sampler *sampler = bpf_map_lookup_elem(&strata_sampler, &zero);
	if (!sampler)
		return;
	if (++sampler->seen < every)
		return;
	sampler->seen = 0;

	__u64 now = bpf_ktime_get_ns();
	if (now - sampler->window_start_ns >= STRATA_NSEC_PER_SEC) {
		sampler->window_start_ns = now;
		sampler->recorded = 0;
	}
	if (sampler->recorded >= strata_config.flow_max_per_sec) {
		count_stat(STRATA_STAT_FLOW_RATE_LIMITED);
		return;
	}
	struct strata_flow_record *rec = bpf_ringbuf_reserve(&strata_flows, sizeof(*rec), 0);
	if (!rec) {
		count_stat(STRATA_STAT_FLOW_RING_FULL);
		return;
	}
	sampler->recorded++;
	rec->ts_ns = now;
	rec->saddr = flow->saddr;
	rec->daddr = flow->daddr;
	rec->sport = flow->sport;
	rec->dport = flow->dport;
	rec->protocol = flow->protocol;
	rec->point = point;
	rec->outcome = outcome;
	rec->code = code;
	rec->src_identity = flow->src_identity;
	rec->dst_identity = flow->dst_identity;
	rec->vni = flow->vni;
	rec->bytes = flow->bytes;
	rec->sample_every = every;
	/* Flags 0: adaptive wakeup, the consumer is only woken when it has caught up. */
	bpf_ringbuf_submit(rec, 0);
	count_stat(STRATA_STAT_FLOW_RECORDED);
}

/* rc: a hook action (>= 0) or a negative drop reason. */
static __always_inline void strata_account(const struct strata_flow *flow, int rc, __u8 point)
{
	if (rc < 0) {
		count_drop(-rc);
		record_flow(flow, point, STRATA_OUTCOME_DROPPED, -rc);
		return;
	}
	count_stat(flow->stat);
	if (flow->outcome == STRATA_OUTCOME_FORWARDED)
		count_traffic(flow);
	if (flow->stat != STRATA_STAT_PASS_NOT_OVERLAY)
		record_flow(flow, point, flow->outcome, flow->stat);
}

#endif /* STRATA_COUNTERS_H */
