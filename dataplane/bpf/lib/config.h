/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: the node configuration every program reads, as load-time constants. The loader
 * writes `strata_config` (layout in maps.h) into the object's .rodata before load; the verifier
 * then sees frozen values and prunes branches that the config turns off. Read fields directly
 * (they are volatile, so the defaults below are never folded in) and MACs with mac_from_config.
 */
#ifndef STRATA_CONFIG_H
#define STRATA_CONFIG_H

#include "maps.h"

/* Defaults: a loader that sets nothing gets a node that forwards nothing (no VTEP, no underlay)
 * but answers ARP and bounds pod packets correctly. */
const volatile struct strata_config strata_config = {
	.gw_mac = { 0xee, 0xee, 0xee, 0xee, 0xee, 0xee },
	.vxlan_port = 4789,
	.gw_ip = bpf_htonl(0xa9fe0101), /* 169.254.1.1 */
	.pod_mtu = 1450,
	.flow_sample_every = 64,
	.flow_max_per_sec = 1024,
};

#endif /* STRATA_CONFIG_H */
