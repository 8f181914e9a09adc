// SPDX-License-Identifier: Apache-2.0
// Network namespaces and interface names.
#include "netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

namespace strata {

std::optional<Failure> RunInNetns(const std::string& netns,
                                  const std::function<std::optional<Failure>()>& fn) {
  if (netns.empty()) return fn();
  int fd = open(netns.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Failure{"setns", errno, "open network namespace " + netns, {}};
  std::optional<Failure> outcome;
  try {
    std::thread thread([&] {
      if (setns(fd, CLONE_NEWNET) != 0) {
        outcome = Failure{"setns", errno, "enter network namespace " + netns, {}};
        return;
      }
      outcome = fn();
    });
    thread.join();
  } catch (const std::system_error& e) {
    outcome = Failure{"setns", e.code().value(), "start a thread for " + netns, {}};
  }
  close(fd);
  if (outcome && outcome->detail.find(netns) == std::string::npos) {
    outcome->detail += " (netns " + netns + ")";
  }
  return outcome;
}

std::optional<Failure> ResolveIfindex(const std::string& ifname, const char* op, int* ifindex) {
  unsigned int index = if_nametoindex(ifname.c_str());
  if (index == 0) return Failure{op, errno == 0 ? ENODEV : errno, "interface '" + ifname + "'", {}};
  *ifindex = static_cast<int>(index);
  return std::nullopt;
}

namespace {

// ifindexOf(ifname, netns?) -> number
Napi::Value IfindexOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = StringArg(info[0], "ifindex", "ifname");
  std::string netns = OptionalStringArg(info[1], "ifindex", "netns").value_or("");
  int ifindex = 0;
  auto failure = RunInNetns(netns, [&] { return ResolveIfindex(ifname, "ifindex", &ifindex); });
  if (failure) ThrowFailure(env, *failure);
  return Napi::Number::New(env, ifindex);
}

}  // namespace

void InitNet(Napi::Env env, Napi::Object exports) {
  exports.Set("ifindexOf", Napi::Function::New(env, IfindexOf, "ifindexOf"));
}

}  // namespace strata
