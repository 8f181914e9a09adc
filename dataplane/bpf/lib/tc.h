/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract: small TC-only helpers. tc_pull() makes the first `want` bytes of the frame (or all of
 * it, if shorter) linear so the classifiers can read them through data/data_end; it does nothing
 * when they already are. Every packet pointer is stale after it.
 */
#ifndef STRATA_TC_H
#define STRATA_TC_H

#include "common.h"

static __always_inline void tc_pull(struct __sk_buff *skb, __u32 want)
{
	if (want > skb->len)
		want = skb->len;
	if ((void *)(long)skb->data + want <= (void *)(long)skb->data_end)
		return;
	/* On failure the bounds checks after it see the short linear part and drop as truncated. */
	bpf_skb_pull_data(skb, want);
}

#endif /* STRATA_TC_H */
