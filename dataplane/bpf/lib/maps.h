/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: every Strata map and every layout user space reads or writes. The node agent writes
 * the endpoint, VTEP, policy and prefix maps (and prunes conntrack when policy changes) and
 * reads the counters and the flow ring through the TypeScript codec in dataplane/bpf/maps.ts,
 * which mirrors this file byte for byte (a test parses the enums below and compares them with
 * the codec's lists).
 *
 * Byte order: "net" = network order (big-endian), written as on the wire. "host" = the CPU's
 * order; every supported node is little-endian (x86-64, arm64). Layouts have no implicit
 * padding; explicit pad bytes are written as zero and ignored on read.
 *
 * All maps are pinned by name (LIBBPF_PIN_BY_NAME) under the loader's pin root, so every
 * program object on a node shares one instance of each. Changing a layout or a size below is a
 * breaking change for pinned maps: bump it together with the agent.
 */
#ifndef STRATA_MAPS_H
#define STRATA_MAPS_H

#include "common.h"

/*
 * Node configuration, one `const volatile struct strata_config strata_config` per object
 * (lib/config.h), written into .rodata by the loader before load. 44 bytes.
 *   off size field
 *     0    4 vtep_ip            net   this node's VTEP IPv4: outer source, the only outer
 *                                     destination decapsulated
 *     4    4 underlay_ifindex   host  where encapsulated frames leave
 *     8    6 vtep_mac                 underlay interface MAC: outer source MAC, inner source MAC
 *    14    6 nexthop_mac              underlay next hop for every VTEP (routed underlay);
 *                                     all zero: VTEPs are on link, use strata_remote_ep.vtep_mac
 *    20    6 gw_mac                   MAC of every host-side pod veth (the CNI sets it, like
 *                                     Calico's ee:ee:ee:ee:ee:ee): ARP answer, delivered source MAC
 *    26    2 vxlan_port         host  UDP destination port, 4789
 *    28    4 gw_ip              net   pods' default gateway (169.254.1.1): source of ICMP errors
 *    32    4 pod_mtu            host  MTU of every pod interface (underlay MTU - 50)
 *    36    4 flow_sample_every  host  record 1 in N packets per CPU in strata_flows; 0 = none
 *    40    4 flow_max_per_sec   host  at most this many records per CPU per second
 */
struct strata_config {
	__be32 vtep_ip;
	__u32 underlay_ifindex;
	__u8 vtep_mac[ETH_ALEN];
	__u8 nexthop_mac[ETH_ALEN];
	__u8 gw_mac[ETH_ALEN];
	__u16 vxlan_port;
	__be32 gw_ip;
	__u32 pod_mtu;
	__u32 flow_sample_every;
	__u32 flow_max_per_sec;
};

/*
 * strata_local_ep value: a pod on this node. Key: pod IPv4, 4 bytes, net.
 * Used for delivery (by destination IP) and for anti-spoofing (by source IP: the sender's
 * ingress veth and source MAC must match its own entry). 16 bytes.
 *   off size field
 *     0    4 ifindex   host  host-side veth (redirect target; must be the sender's ingress)
 *     4    4 vni       host  segment VNI (24 bits); 0 = segment unknown, the pod sends and
 *                            receives nothing
 *     8    2 identity  host  security identity, the VXLAN-GBP group policy id; 0 = unknown
 *    10    6 mac             pod eth0 MAC
 */
struct strata_local_ep {
	__u32 ifindex;
	__u32 vni;
	__u16 identity;
	__u8 mac[ETH_ALEN];
};

/*
 * strata_remote_ep value: a pod behind another node's VTEP. Key: pod IPv4, 4 bytes, net
 * (one global address space, so the IP alone names it). 24 bytes.
 *   off size field
 *     0    4 vtep_ip   net   the remote node's VTEP IPv4 (outer destination)
 *     4    4 vni       host  the pod's segment VNI (24 bits)
 *     8    2 identity  host  the pod's identity (destination identity for counters)
 *    10    6 vtep_mac        the remote node's underlay MAC: outer destination MAC when
 *                            strata_config.nexthop_mac is zero (VTEPs on link)
 *    16    6 mac             the pod's MAC: inner destination MAC
 *    22    2 pad             zero
 */
struct strata_remote_ep {
	__be32 vtep_ip;
	__u32 vni;
	__u16 identity;
	__u8 vtep_mac[ETH_ALEN];
	__u8 mac[ETH_ALEN];
	__u8 pad[2];
};

/*
 * strata_vteps value: a VTEP VXLAN is accepted from. Key: VTEP IPv4, 4 bytes, net. 4 bytes.
 *   off size field
 *     0    4 flags  host  STRATA_VTEP_F_*
 */
struct strata_vtep {
	__u32 flags;
};

/* Accept VXLAN without the GBP extension from this VTEP (e.g. a kernel VXLAN gateway); its
 * packets get source identity 0. Strata nodes always stamp GBP, so this is off for them. */
#define STRATA_VTEP_F_NO_GBP 0x1U

/*
 * strata_drops: PERCPU_ARRAY, key = enum strata_drop_reason (__u32 host), value = __u64 host
 * packets dropped for that reason, one value per possible CPU (sum them).
 */
enum strata_drop_reason {
	STRATA_DROP_UNSPEC = 0,		  /* reserved, never counted */
	STRATA_DROP_TRUNCATED_ETH = 1,	  /* shorter than an Ethernet header (XDP only) */
	STRATA_DROP_TRUNCATED_IPV4 = 2,	  /* an IPv4 header (outer or inner) is cut short */
	STRATA_DROP_MALFORMED_IPV4 = 3,	  /* version != 4, IHL < 5, bad total length */
	STRATA_DROP_TRUNCATED_UDP = 4,	  /* outer UDP header cut short */
	STRATA_DROP_TRUNCATED_VXLAN = 5,  /* VXLAN header or inner Ethernet cut short */
	STRATA_DROP_MALFORMED_VXLAN = 6,  /* no I flag, bad UDP length, outer IP options */
	STRATA_DROP_UNKNOWN_VTEP = 7,	  /* outer source is not in strata_vteps */
	STRATA_DROP_MISSING_GBP = 8,	  /* no GBP extension from a VTEP that must stamp it */
	STRATA_DROP_VNI_MISMATCH = 9,	  /* VNI != destination endpoint's segment */
	STRATA_DROP_NO_LOCAL_EP = 10,	  /* decapsulated for an IP that is no local endpoint */
	STRATA_DROP_INNER_NOT_IPV4 = 11,  /* inner frame is not IPv4 */
	STRATA_DROP_SPOOFED_IP = 12,	  /* pod source IP is not its own (or unknown) */
	STRATA_DROP_SPOOFED_MAC = 13,	  /* pod source MAC is not its own */
	STRATA_DROP_UNSUPPORTED_L3 = 14,  /* pod sent neither IPv4 nor ARP (IPv6, ...) */
	STRATA_DROP_ARP_MALFORMED = 15,	  /* ARP that is not Ethernet/IPv4, or truncated */
	STRATA_DROP_ARP_UNANSWERED = 16,  /* ARP reply, gratuitous ARP or probe from a pod */
	STRATA_DROP_NO_SEGMENT = 17,	  /* sender's or receiver's VNI is 0 */
	STRATA_DROP_SEGMENT_MISMATCH = 18, /* source and destination in different segments */
	STRATA_DROP_ENCAP_FAILED = 19,	  /* adjust_room / adjust_head failed on encap */
	STRATA_DROP_DECAP_FAILED = 20,	  /* adjust_room / adjust_head failed on decap */
	STRATA_DROP_REPLY_FAILED = 21,	  /* could not build an ICMP error in place */
	STRATA_DROP_VXLAN_FROM_POD = 22,  /* pod sent VXLAN (or UDP fragments) to a VTEP address */
	STRATA_DROP_POLICY_DENIED = 23,	  /* an egress or ingress policy denied it (lib/policy.h) */
	STRATA_DROP_MAX = 24,
};

/*
 * strata_stats: PERCPU_ARRAY, key = enum strata_stat (__u32 host), value = __u64 host per CPU:
 * every outcome that is not a drop, and the flow recorder's own counters.
 */
enum strata_stat {
	STRATA_STAT_FORWARDED_LOCAL = 0,   /* pod to pod on this node */
	STRATA_STAT_ENCAPSULATED = 1,	   /* pod to remote pod, sent to the underlay */
	STRATA_STAT_DECAPSULATED = 2,	   /* overlay to local pod */
	STRATA_STAT_ARP_REPLIED = 3,	   /* answered a pod's ARP request */
	STRATA_STAT_FRAG_NEEDED_SENT = 4,  /* answered an oversized DF packet with ICMP 3/4 */
	STRATA_STAT_PASS_UNKNOWN_DST = 5,  /* pod to a non-endpoint: kernel stack */
	STRATA_STAT_PASS_TTL_EXPIRED = 6,  /* TTL <= 1: kernel stack (ICMP time exceeded) */
	STRATA_STAT_PASS_OVERSIZE = 7,	   /* too big, not answerable here: kernel stack */
	STRATA_STAT_PASS_OUTER_FRAGMENT = 8, /* fragmented VXLAN from a known VTEP: kernel stack */
	STRATA_STAT_PASS_NOT_OVERLAY = 9,  /* underlay traffic that is not VXLAN to us */
	STRATA_STAT_FLOW_RECORDED = 10,	   /* record written to strata_flows */
	STRATA_STAT_FLOW_RATE_LIMITED = 11, /* sampled, but over flow_max_per_sec */
	STRATA_STAT_FLOW_RING_FULL = 12,   /* sampled, but the ring buffer was full */
	STRATA_STAT_MAX = 13,
};

/*
 * strata_traffic: LRU_PERCPU_HASH, per (source identity, destination identity, direction).
 * Key, 8 bytes:
 *   off size field
 *     0    2 src_identity  host
 *     2    2 dst_identity  host
 *     4    1 direction     enum strata_direction
 *     5    3 pad           zero
 * Value, 16 bytes per possible CPU (sum them):
 *     0    8 packets  host  GSO super-packets count their segments
 *     8    8 bytes    host  inner frame bytes (Ethernet header included)
 */
struct strata_traffic_key {
	__u16 src_identity;
	__u16 dst_identity;
	__u8 direction;
	__u8 pad[3];
};

struct strata_traffic {
	__u64 packets;
	__u64 bytes;
};

enum strata_direction {
	STRATA_DIR_FROM_POD = 0,     /* sent by a local pod (local delivery or encapsulation) */
	STRATA_DIR_FROM_OVERLAY = 1, /* received from a VTEP and delivered to a local pod */
};

/*
 * strata_flows: RINGBUF of struct strata_flow_record, 40 bytes each, sampled (1 in
 * flow_sample_every per CPU) and capped (flow_max_per_sec per CPU), so a flood cannot swamp it.
 *   off size field
 *     0    8 ts_ns         host  bpf_ktime_get_ns() (CLOCK_MONOTONIC)
 *     8    4 saddr         net   inner IPv4 source (outer, if dropped before the inner parse)
 *    12    4 daddr         net   inner IPv4 destination (likewise)
 *    16    2 sport         net   TCP/UDP/SCTP source port; 0 for fragments and other protocols
 *    18    2 dport         net   destination port; ICMP: type and code bytes
 *    20    1 protocol            IP protocol
 *    21    1 point               enum strata_point
 *    22    1 outcome             enum strata_outcome
 *    23    1 code                drop: enum strata_drop_reason; otherwise enum strata_stat
 *    24    2 src_identity  host
 *    26    2 dst_identity  host
 *    28    4 vni           host
 *    32    4 bytes         host  frame length as seen at the hook (inner frame for VXLAN)
 *    36    4 sample_every  host  how many packets this record stands for
 */
struct strata_flow_record {
	__u64 ts_ns;
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 protocol;
	__u8 point;
	__u8 outcome;
	__u8 code;
	__u16 src_identity;
	__u16 dst_identity;
	__u32 vni;
	__u32 bytes;
	__u32 sample_every;
};

enum strata_point {
	STRATA_POINT_TC_POD = 0,       /* tc_pod_egress */
	STRATA_POINT_TC_UNDERLAY = 1,  /* tc_ul_ingress */
	STRATA_POINT_XDP_POD = 2,      /* xdp_pod_egress */
	STRATA_POINT_XDP_UNDERLAY = 3, /* xdp_ul_ingress */
};

enum strata_outcome {
	STRATA_OUTCOME_FORWARDED = 0, /* delivered locally, encapsulated or decapsulated */
	STRATA_OUTCOME_PASSED = 1,    /* handed to the kernel stack */
	STRATA_OUTCOME_DROPPED = 2,
	STRATA_OUTCOME_REPLIED = 3, /* answered in place (ARP reply, ICMP error) */
};

/* Internal, not for user space: per-CPU state of the flow sampler. */
struct strata_flow_sampler {
	__u64 window_start_ns;
	__u32 recorded; /* records in the current one-second window */
	__u32 seen;	/* packets since the last sampled one */
};

/*
 * Policy maps (docs/policy.md "BPF"; the agent writes them from the `policy` and `prefixes`
 * tables of libs/forwarding, lib/policy.h and lib/conntrack.h read them). docs/policy.md calls
 * them policy_map, prefix_map, ct_map and rule_stats; pinned here as strata_policy,
 * strata_prefixes, strata_ct and strata_verdicts (kernel map names stop at 15 characters).
 */

/*
 * strata_policy: LPM_TRIE, the compiled policy lookups for this node's local identities.
 * Key, 16 bytes; the trie matches the bytes after prefixlen, most significant bit first:
 *   off size field
 *     0    4 prefixlen  host  72: any protocol (`*` row), 80: one protocol, 80+bits: a block
 *                             of destination ports whose top `bits` bits are fixed
 *     4    4 local      net   the local endpoint's identity
 *     8    4 peer       net   the peer's identity; STRATA_POLICY_PEER_ANY = the `*` peer
 *    12    1 dir              enum strata_policy_dir
 *    13    1 proto            IP protocol (0 in a `*` row)
 *    14    2 port       net   destination port (block start; 0 in `*` and protocol rows)
 * Bits beyond prefixlen are written as zero.
 * Value, 12 bytes:
 *     0    1 verdict         enum strata_verdict (enforced)
 *     1    1 staged_verdict  enum strata_verdict with staged policies counted as enforced
 *     2    2 pad             zero
 *     4    4 rule        host  rule id that decided (0: end of tiers, 1: isolation)
 *     8    4 staged_rule host  rule id that decided the staged verdict
 */
struct strata_policy_key {
	__u32 prefixlen;
	__be32 local;
	__be32 peer;
	__u8 dir;
	__u8 proto;
	__be16 port;
};

struct strata_policy {
	__u8 verdict;
	__u8 staged_verdict;
	__u16 pad;
	__u32 rule;
	__u32 staged_rule;
};

enum strata_policy_dir {
	STRATA_POLICY_INGRESS = 0, /* "i": traffic the local endpoint receives */
	STRATA_POLICY_EGRESS = 1,  /* "e": traffic the local endpoint sends */
};

enum strata_verdict {
	STRATA_VERDICT_ALLOW = 0,
	STRATA_VERDICT_DENY = 1, /* any value but ALLOW denies */
};

#define STRATA_POLICY_PEER_ANY 0xffffffffU
/* Prefix lengths of the three kinds of rows. */
#define STRATA_POLICY_PREFIX_ANY_PROTO 72
#define STRATA_POLICY_PREFIX_PROTO 80
#define STRATA_POLICY_PREFIX_PORT 96

/*
 * strata_prefixes: LPM_TRIE, addresses that are no endpoint but have an identity: external
 * endpoints (/32) and the atoms of policy CIDR peers (node-local identities >= 0x10000).
 * Key, 8 bytes: prefixlen (host, 0-32), addr (net, bits beyond prefixlen zero).
 * Value, 4 bytes: identity (host).
 */
struct strata_prefix_key {
	__u32 prefixlen;
	__be32 addr;
};

struct strata_prefix {
	__u32 identity;
};

/* Reserved identities (docs/policy.md): any address that is neither endpoint nor prefix. */
#define STRATA_IDENTITY_WORLD 2U

/*
 * strata_ct: LRU_HASH, connections policy allowed, keyed as the packet that opened them
 * (lib/conntrack.h). Key, 16 bytes:
 *   off size field
 *     0    4 saddr  net
 *     4    4 daddr  net
 *     8    2 sport  net   TCP/UDP/SCTP ports; ICMP echo request: identifier; 0 otherwise
 *    10    2 dport  net   (other protocols, other ICMP, non-first fragments)
 *                         ICMP echo reply: identifier as dport, sport 0
 *    12    1 proto
 *    13    3 pad    zero
 * Value, 8 bytes: last_seen_ns (host), bpf_ktime_get_ns() when a packet of the connection was
 * last seen, refreshed at most once a second (the agent reaps idle entries by it). Was
 * opened_ns, same size and clock: entries pinned by an older build read as last seen when
 * opened, and are refreshed by their next packet.
 */
struct strata_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct strata_ct {
	__u64 last_seen_ns;
};

/*
 * strata_verdicts: PERCPU_HASH, packets and bytes per (rule, kind) of policy verdict.
 * Key, 8 bytes: rule (host), kind (host, enum strata_verdict_kind).
 * Value, 16 bytes per possible CPU (sum them): packets, bytes (host; frame bytes as counted in
 * strata_traffic, GSO packets by segments).
 */
struct strata_verdict_key {
	__u32 rule;
	__u32 kind;
};

struct strata_verdict_count {
	__u64 packets;
	__u64 bytes;
};

enum strata_verdict_kind {
	STRATA_VERDICT_KIND_ALLOWED = 0,
	STRATA_VERDICT_KIND_DENIED = 1,
	STRATA_VERDICT_KIND_STAGED_WOULD_DENY = 2,  /* allowed; staged policies would deny */
	STRATA_VERDICT_KIND_STAGED_WOULD_ALLOW = 3, /* denied; staged policies would allow */
};

#define STRATA_LOCAL_EP_MAX 4096
#define STRATA_REMOTE_EP_MAX 65536
#define STRATA_VTEPS_MAX 4096
#define STRATA_TRAFFIC_MAX 16384
#define STRATA_FLOWS_BYTES (1U << 20)
#define STRATA_POLICY_MAX 65536
#define STRATA_PREFIXES_MAX 16384
#define STRATA_CT_MAX 262144
#define STRATA_VERDICTS_MAX 16384

/* Local endpoints by pod IPv4. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STRATA_LOCAL_EP_MAX);
	__type(key, __be32);
	__type(value, struct strata_local_ep);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_locals SEC(".maps");

/* Remote endpoints by pod IPv4. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STRATA_REMOTE_EP_MAX);
	__type(key, __be32);
	__type(value, struct strata_remote_ep);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_remotes SEC(".maps");

/* VTEPs VXLAN is accepted from, by IPv4. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STRATA_VTEPS_MAX);
	__type(key, __be32);
	__type(value, struct strata_vtep);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_vteps SEC(".maps");

/* Dropped packets per enum strata_drop_reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STRATA_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_drops SEC(".maps");

/* Non-drop outcomes per enum strata_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STRATA_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_stats SEC(".maps");

/* Forwarded packets and bytes per identity pair and direction; LRU, so the agent drains it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, STRATA_TRAFFIC_MAX);
	__type(key, struct strata_traffic_key);
	__type(value, struct strata_traffic);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_traffic SEC(".maps");

/* Sampled flow records for analytics. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, STRATA_FLOWS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_flows SEC(".maps");

/* The flow sampler's per-CPU window (internal). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct strata_flow_sampler);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_sampler SEC(".maps");

/* Compiled policy lookups: (local identity, peer identity, direction, protocol, port). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, STRATA_POLICY_MAX);
	__type(key, struct strata_policy_key);
	__type(value, struct strata_policy);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_policy SEC(".maps");

/* Identities of addresses that are no endpoint (external endpoints, CIDR atoms). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, STRATA_PREFIXES_MAX);
	__type(key, struct strata_prefix_key);
	__type(value, struct strata_prefix);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_prefixes SEC(".maps");

/* Connections opened with policy's consent; their packets both ways skip policy. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STRATA_CT_MAX);
	__type(key, struct strata_ct_key);
	__type(value, struct strata_ct);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_ct SEC(".maps");

/* Policy verdicts per rule and kind: packets and bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, STRATA_VERDICTS_MAX);
	__type(key, struct strata_verdict_key);
	__type(value, struct strata_verdict_count);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strata_verdicts SEC(".maps");

#endif /* STRATA_MAPS_H */
