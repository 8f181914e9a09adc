// SPDX-License-Identifier: Apache-2.0
// Network-namespace scoped work. Contract: fn runs to completion before RunInNetns returns, in
// the namespace at `netns` (a path like /run/netns/NAME) or in the caller's when `netns` is empty.
// A namespace switch happens on a short-lived thread of its own, so no JS or libuv pool thread
// ever changes namespace and nothing has to be restored.
#pragma once

#include <functional>
#include <string>

#include "common.h"

namespace strata {

std::optional<Failure> RunInNetns(const std::string& netns,
                                  const std::function<std::optional<Failure>()>& fn);

// if_nametoindex in the current thread's namespace; ENODEV naming the interface when missing.
std::optional<Failure> ResolveIfindex(const std::string& ifname, const char* op, int* ifindex);

}  // namespace strata
