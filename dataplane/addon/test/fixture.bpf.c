// SPDX-License-Identifier: GPL-2.0
/* Test fixture for the strata_bpf addon (test/integration/dataplane/addon.test.ts); not part of
 * the dataplane. One program per hook the addon drives, one map of each kind it treats specially,
 * and load-time constants whose effect a BPF_PROG_RUN can observe. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* Load-time configuration (LoadOptions.rodata). */
const volatile __u32 xdp_verdict = XDP_PASS; /* what xdp_main returns */
const volatile __u64 magic = 0;              /* copied into every ring buffer record */
const volatile __u8 tag[ETH_ALEN] = {};      /* xdp_main: source MAC; tc_main: destination MAC */

enum counter { COUNT_XDP, COUNT_TC, COUNT_SINK, COUNT_REFLECT, COUNT_MAX };
enum origin { FROM_XDP = 1, FROM_TC = 2, FROM_SINK = 3 };

struct flow { /* 16 bytes */
	__u64 packets;
	__u32 last_len;
	__u32 flags;
};

struct event { /* one ring buffer record, 24 bytes */
	__u32 origin;
	__u32 ifindex;
	__u32 len;
	__u32 pad;
	__u64 magic;
};

/* Per ingress ifindex: packets seen by xdp_main. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct flow);
} flows SEC(".maps");

/* Packet counters by enum counter, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* One struct event per packet seen by xdp_main, tc_main and xdp_sink. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* Pinned under LoadOptions.pinRoot and shared by every load of this object. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared SEC(".maps");

static __always_inline void count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &index);

	if (value)
		(*value)++;
}

static __always_inline void emit(__u32 origin, __u32 ifindex, __u32 len)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return;
	e->origin = origin;
	e->ifindex = ifindex;
	e->len = len;
	e->pad = 0;
	e->magic = magic;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void copy_tag(__u8 *dst)
{
	/* byte by byte: tag is volatile, so no memcpy */
	for (int i = 0; i < ETH_ALEN; i++)
		dst[i] = tag[i];
}

SEC("xdp")
int xdp_main(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 len = data_end - data;
	__u32 ifindex = ctx->ingress_ifindex;

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	copy_tag(eth->h_source);
	count(COUNT_XDP);

	struct flow *f = bpf_map_lookup_elem(&flows, &ifindex);
	if (f) {
		__sync_fetch_and_add(&f->packets, 1);
		f->last_len = len;
	} else {
		struct flow init = { .packets = 1, .last_len = len };
		bpf_map_update_elem(&flows, &ifindex, &init, BPF_NOEXIST);
	}
	emit(FROM_XDP, ifindex, len);
	return xdp_verdict;
}

SEC("tc")
int tc_main(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 key = 0;
	__u64 one = 1, *seen;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;
	copy_tag(eth->h_dest);
	count(COUNT_TC);
	seen = bpf_map_lookup_elem(&shared, &key);
	if (seen)
		__sync_fetch_and_add(seen, 1);
	else
		bpf_map_update_elem(&shared, &key, &one, BPF_NOEXIST);
	emit(FROM_TC, skb->ifindex, skb->len);
	return TC_ACT_OK;
}

/* Live-frames generator: counts and sends each frame back out of its ingress device. */
SEC("xdp")
int xdp_reflect(struct xdp_md *ctx)
{
	count(COUNT_REFLECT);
	return XDP_TX;
}

/* Receiver: counts, reports and drops. */
SEC("xdp")
int xdp_sink(struct xdp_md *ctx)
{
	count(COUNT_SINK);
	emit(FROM_SINK, ctx->ingress_ifindex,
	     (__u32)((long)ctx->data_end - (long)ctx->data));
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
