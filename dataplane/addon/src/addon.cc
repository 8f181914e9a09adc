// SPDX-License-Identifier: Apache-2.0
// strata_bpf: a thin N-API addon over libbpf. The TypeScript facade (index.ts) is the API;
// this module's raw surface is declared in bindings.ts.
#include <bpf/libbpf.h>

#include "common.h"

namespace strata {

AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

namespace {

// configure({ BpfError }): the class every failure is raised as.
Napi::Value Configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[0].As<Napi::Object>().Get("BpfError").IsFunction()) {
    ThrowInvalid(env, "configure", "expected { BpfError: class }");
  }
  Data(env).bpf_error =
      Napi::Persistent(info[0].As<Napi::Object>().Get("BpfError").As<Napi::Function>());
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);
  // Environment teardown (process exit, worker thread end): wake ring buffer polls in flight
  // so their pool threads return instead of waiting out the timeout.
  env.AddCleanupHook([data] {
    for (const auto& ring : data->rings) {
      if (auto state = ring.lock()) CancelRing(*state);
    }
  });
  InstallLibbpfPrint();
  exports.Set("configure", Napi::Function::New(env, Configure, "configure"));
  exports.Set("libbpfVersion", Napi::String::New(env, libbpf_version_string()));
  InitObject(env, exports);
  InitMap(env, exports);
  InitProgram(env, exports);
  InitRingBuffer(env, exports);
  InitNet(env, exports);
  return exports;
}

}  // namespace

}  // namespace strata

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return strata::Init(env, exports);
}

NODE_API_MODULE(strata_bpf, InitModule)
