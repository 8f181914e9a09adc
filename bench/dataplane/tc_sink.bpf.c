// SPDX-License-Identifier: GPL-2.0
/*
 * tc_sink: clsact ingress of the receiving pod's eth0. Counts and drops the generator's UDP
 * datagrams to port 9; everything else (ping, iperf3, ARP) goes on. TC rather than XDP because
 * frames delivered with bpf_redirect_peer skip the pod's XDP hook but not its TC ingress.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define SINK_PORT 9

/* Datagrams to SINK_PORT received, per CPU (GRO aggregates count their segments). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_packets SEC(".maps");

SEC("tc")
int tc_sink(struct __sk_buff *skb)
{
	/* packed: iphdr's alignment would otherwise put 2 bytes of padding after the 14. */
	struct {
		struct ethhdr eth;
		struct iphdr ip;
	} __attribute__((packed)) hdr;
	__be16 ports[2];
	__u32 key = 0;

	/* bpf_skb_load_bytes, not direct access: a redirected skb need not be linear. */
	if (bpf_skb_load_bytes(skb, 0, &hdr, sizeof(hdr)))
		return TC_ACT_OK;
	if (hdr.eth.h_proto != bpf_htons(ETH_P_IP) || hdr.ip.protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, sizeof(hdr.eth) + hdr.ip.ihl * 4, ports, sizeof(ports)))
		return TC_ACT_OK;
	if (ports[1] != bpf_htons(SINK_PORT))
		return TC_ACT_OK;

	__u64 *count = bpf_map_lookup_elem(&sink_packets, &key);
	if (count)
		*count += skb->gso_segs ?: 1;
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
