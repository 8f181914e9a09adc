// SPDX-License-Identifier: Apache-2.0
// Program handles: BPF_PROG_RUN (plain and XDP live frames), XDP and TC attach/detach, pinning.
#include <bpf/bpf.h>
#include <linux/if_link.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <functional>

#include "netns.h"
#include "object.h"

namespace strata {

namespace {

// Largest repeat handed to one BPF_PROG_RUN call (the syscall field is an int).
constexpr uint32_t kRepeatChunk = 1u << 30;
// The kernel's limit for BPF_F_TEST_XDP_LIVE_FRAMES batch_size (NAPI_POLL_WEIGHT * 4).
constexpr int64_t kMaxLiveBatch = 256;

struct ProgramSeed {
  std::shared_ptr<ObjectState> owner;
  ProgramInfo info;
};

// Writes a u32 context field, growing a caller-supplied context to hold it.
void SetCtxField(std::vector<uint8_t>* ctx, size_t offset, uint32_t value) {
  if (ctx->size() < offset + sizeof(value)) ctx->resize(offset + sizeof(value), 0);
  std::memcpy(ctx->data() + offset, &value, sizeof(value));
}

// Runs `work` in a network namespace on a worker thread; keeps the object's fds open meanwhile.
class NetWorker : public PromiseWorker {
 public:
  NetWorker(Napi::Env env, const char* name, std::shared_ptr<ObjectState> owner, std::string netns,
            std::function<std::optional<Failure>()> work)
      : PromiseWorker(env, name),
        busy_(std::move(owner)),
        netns_(std::move(netns)),
        work_(std::move(work)) {}

 private:
  void Run() override {
    if (auto failure = RunInNetns(netns_, work_)) Fail(*failure);
  }

  Busy busy_;
  std::string netns_;
  std::function<std::optional<Failure>()> work_;
};

class LiveFramesWorker : public PromiseWorker {
 public:
  LiveFramesWorker(Napi::Env env, std::shared_ptr<ObjectState> owner, int fd, std::string name,
                   std::vector<uint8_t> data, uint32_t repeat, int ifindex, uint32_t batch_size,
                   std::string netns)
      : PromiseWorker(env, "strata_bpf.liveFrames"),
        busy_(std::move(owner)),
        fd_(fd),
        name_(std::move(name)),
        data_(std::move(data)),
        repeat_(repeat),
        ifindex_(ifindex),
        batch_size_(batch_size),
        netns_(std::move(netns)) {}

 private:
  void Run() override {
    auto failure = RunInNetns(netns_, [this]() -> std::optional<Failure> {
      struct xdp_md ctx = {};
      ctx.data_end = static_cast<uint32_t>(data_.size());
      ctx.ingress_ifindex = static_cast<uint32_t>(ifindex_);
      auto start = std::chrono::steady_clock::now();
      for (uint32_t left = repeat_; left > 0;) {
        uint32_t chunk = left < kRepeatChunk ? left : kRepeatChunk;
        LIBBPF_OPTS(bpf_test_run_opts, opts);
        opts.data_in = data_.data();
        opts.data_size_in = static_cast<uint32_t>(data_.size());
        opts.ctx_in = &ctx;
        opts.ctx_size_in = sizeof(ctx);
        opts.repeat = static_cast<int>(chunk);
        opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
        opts.batch_size = batch_size_;
        if (bpf_prog_test_run_opts(fd_, &opts) != 0) {
          return Failure{"prog_run_live",
                         errno,
                         "program '" + name_ + "' on ifindex " + std::to_string(ifindex_),
                         {}};
        }
        left -= chunk;
      }
      duration_ns_ =
          std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
              .count();
      return std::nullopt;
    });
    if (failure) Fail(*failure);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("durationNs", duration_ns_);
    return out;
  }

  Busy busy_;
  int fd_;
  std::string name_;
  std::vector<uint8_t> data_;
  uint32_t repeat_;
  int ifindex_;
  uint32_t batch_size_;
  std::string netns_;
  double duration_ns_ = 0;
};

class ProgramHandle : public Napi::ObjectWrap<ProgramHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeProgram",
                       {
                           InstanceMethod<&ProgramHandle::Info>("info"),
                           InstanceMethod<&ProgramHandle::Fd>("fd"),
                           InstanceMethod<&ProgramHandle::TestRun>("testRun"),
                           InstanceMethod<&ProgramHandle::RunLiveFrames>("runLiveFrames"),
                           InstanceMethod<&ProgramHandle::AttachXdp>("attachXdp"),
                           InstanceMethod<&ProgramHandle::DetachXdp>("detachXdp"),
                           InstanceMethod<&ProgramHandle::AttachTc>("attachTc"),
                           InstanceMethod<&ProgramHandle::DetachTc>("detachTc"),
                           InstanceMethod<&ProgramHandle::Pin>("pin"),
                       });
  }

  explicit ProgramHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProgramHandle>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      ThrowInvalid(info.Env(), "program", "programs come from BpfObject.program()");
    }
    const ProgramSeed& seed = *info[0].As<Napi::External<ProgramSeed>>().Data();
    owner_ = seed.owner;
    info_ = seed.info;
  }

 private:
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("name", info_.name);
    out.Set("type", ProgramTypeName(info_.type));
    out.Set("id", info_.id);
    return out;
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), OpenFd(info.Env(), "program"));
  }

  // testRun(data, ctxIn?, repeat, dataSizeOut, ifindex?, netns?)
  Napi::Value TestRun(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "prog_run";
    auto data = BufferArg(info[0], op, "data");
    std::vector<uint8_t> input(data.Data(), data.Data() + data.Length());
    std::vector<uint8_t> ctx;
    bool with_ctx = false;
    if (!info[1].IsUndefined() && !info[1].IsNull()) {
      auto ctx_in = BufferArg(info[1], op, "ctxIn");
      ctx.assign(ctx_in.Data(), ctx_in.Data() + ctx_in.Length());
      with_ctx = true;
    }
    auto repeat = static_cast<int>(IntegerArg(info[2], op, "repeat", 1, INT32_MAX));
    auto size_out = static_cast<uint32_t>(IntegerArg(info[3], op, "dataSizeOut", 0, UINT32_MAX));
    if (!info[4].IsUndefined() && !info[4].IsNull()) {
      auto ifindex = static_cast<uint32_t>(IntegerArg(info[4], op, "ifindex", 1, INT32_MAX));
      if (info_.type == BPF_PROG_TYPE_XDP) {
        if (!with_ctx) SetCtxField(&ctx, offsetof(struct xdp_md, data_end), input.size());
        SetCtxField(&ctx, offsetof(struct xdp_md, ingress_ifindex), ifindex);
        if (ctx.size() < sizeof(struct xdp_md)) ctx.resize(sizeof(struct xdp_md), 0);
      } else if (info_.type == BPF_PROG_TYPE_SCHED_CLS || info_.type == BPF_PROG_TYPE_SCHED_ACT) {
        if (ctx.size() < sizeof(struct __sk_buff)) ctx.resize(sizeof(struct __sk_buff), 0);
        SetCtxField(&ctx, offsetof(struct __sk_buff, ifindex), ifindex);
      } else {
        ThrowInvalid(env, op, Name() + ": ifindex is supported for xdp and sched_cls programs");
      }
      with_ctx = true;
    }
    std::string netns = OptionalStringArg(info[5], op, "netns").value_or("");
    int fd = OpenFd(env, op);

    std::vector<uint8_t> output(size_out);
    std::vector<uint8_t> ctx_out(ctx.size());
    LIBBPF_OPTS(bpf_test_run_opts, opts);
    opts.data_in = input.data();
    opts.data_size_in = static_cast<uint32_t>(input.size());
    opts.data_out = output.data();
    opts.data_size_out = size_out;
    if (with_ctx) {
      opts.ctx_in = ctx.data();
      opts.ctx_size_in = static_cast<uint32_t>(ctx.size());
      opts.ctx_out = ctx_out.data();
      opts.ctx_size_out = static_cast<uint32_t>(ctx_out.size());
    }
    opts.repeat = repeat;
    auto failure = RunInNetns(netns, [&]() -> std::optional<Failure> {
      if (bpf_prog_test_run_opts(fd, &opts) == 0) return std::nullopt;
      int err = errno;
      std::string detail = Name();
      if (err == ENOSPC) {
        detail += ": output is " + std::to_string(opts.data_size_out) + " bytes, dataSizeOut " +
                  std::to_string(size_out);
      }
      return Failure{op, err, detail, {}};
    });
    if (failure) ThrowFailure(env, *failure);

    Napi::Object out = Napi::Object::New(env);
    out.Set("retval", opts.retval);
    out.Set("data", Napi::Buffer<uint8_t>::Copy(env, output.data(), opts.data_size_out));
    if (with_ctx) {
      out.Set("ctxOut", Napi::Buffer<uint8_t>::Copy(env, ctx_out.data(), opts.ctx_size_out));
    }
    out.Set("durationNs", opts.duration);
    return out;
  }

  // runLiveFrames(data, repeat, ifindex, batchSize, netns?) -> Promise<{ durationNs }>
  Napi::Value RunLiveFrames(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "prog_run_live";
    auto data = BufferArg(info[0], op, "data");
    auto repeat = static_cast<uint32_t>(IntegerArg(info[1], op, "repeat", 1, UINT32_MAX));
    auto ifindex = static_cast<int>(IntegerArg(info[2], op, "ifindex", 1, INT32_MAX));
    auto batch = static_cast<uint32_t>(IntegerArg(info[3], op, "batchSize", 1, kMaxLiveBatch));
    std::string netns = OptionalStringArg(info[4], op, "netns").value_or("");
    if (info_.type != BPF_PROG_TYPE_XDP) {
      ThrowInvalid(env, op, Name() + ": live frames need an xdp program");
    }
    int fd = OpenFd(env, op);
    auto* worker = new LiveFramesWorker(
        env, owner_, fd, info_.name, std::vector<uint8_t>(data.Data(), data.Data() + data.Length()),
        repeat, ifindex, batch, std::move(netns));
    return worker->Start();
  }

  // attachXdp(ifname, netns?, mode: 'native' | 'generic')
  Napi::Value AttachXdp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "xdp_attach";
    std::string ifname = StringArg(info[0], op, "ifname");
    std::string netns = OptionalStringArg(info[1], op, "netns").value_or("");
    std::string mode = StringArg(info[2], op, "mode");
    if (mode != "native" && mode != "generic") {
      ThrowInvalid(env, op, "mode must be 'native' or 'generic', got '" + mode + "'");
    }
    bool generic = mode == "generic";
    int fd = OpenFd(env, op);
    uint32_t id = info_.id;
    std::string name = Name();
    return Start(env, "strata_bpf.attachXdp", std::move(netns), [=]() -> std::optional<Failure> {
      LogCapture capture;
      int ifindex = 0;
      if (auto failure = ResolveIfindex(ifname, op, &ifindex)) return failure;
      LIBBPF_OPTS(bpf_xdp_query_opts, query);
      int err = bpf_xdp_query(ifindex, 0, &query);
      if (err != 0) return Failure{op, -err, "query " + ifname, capture.Take()};
      uint32_t here = generic ? query.skb_prog_id : query.drv_prog_id;
      uint32_t other = generic ? query.drv_prog_id : query.skb_prog_id;
      if (here == id && other == 0) return std::nullopt;  // already attached
      if (other != 0) {  // the kernel allows native or generic, not both
        err = bpf_xdp_detach(ifindex, generic ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, nullptr);
        if (err != 0) {
          return Failure{op, -err, "detach the other mode's program from " + ifname,
                         capture.Take()};
        }
      }
      err = bpf_xdp_attach(ifindex, fd, generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE, nullptr);
      if (err != 0) {
        return Failure{op, -err, name + " to " + ifname + " (" + mode + ")", capture.Take()};
      }
      return std::nullopt;
    });
  }

  // detachXdp(ifname, netns?): removes whatever XDP program (native or generic) is attached.
  Napi::Value DetachXdp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "xdp_detach";
    std::string ifname = StringArg(info[0], op, "ifname");
    std::string netns = OptionalStringArg(info[1], op, "netns").value_or("");
    OpenFd(env, op);
    return Start(env, "strata_bpf.detachXdp", std::move(netns), [=]() -> std::optional<Failure> {
      LogCapture capture;
      int ifindex = 0;
      if (auto failure = ResolveIfindex(ifname, op, &ifindex)) return failure;
      LIBBPF_OPTS(bpf_xdp_query_opts, query);
      int err = bpf_xdp_query(ifindex, 0, &query);
      if (err != 0) return Failure{op, -err, "query " + ifname, capture.Take()};
      for (auto [id, flags] : {std::pair{query.drv_prog_id, XDP_FLAGS_DRV_MODE},
                               std::pair{query.skb_prog_id, XDP_FLAGS_SKB_MODE}}) {
        if (id == 0) continue;
        err = bpf_xdp_detach(ifindex, flags, nullptr);
        if (err != 0) return Failure{op, -err, "detach from " + ifname, capture.Take()};
      }
      return std::nullopt;
    });
  }

  // The arguments attachTc and detachTc share: (ifname, netns?, direction, handle, priority).
  struct TcArgs {
    std::string ifname;
    std::string netns;
    enum bpf_tc_attach_point point;
    uint32_t handle;
    uint32_t priority;
  };

  static TcArgs ParseTcArgs(const Napi::CallbackInfo& info, const char* op) {
    return TcArgs{
        StringArg(info[0], op, "ifname"),
        OptionalStringArg(info[1], op, "netns").value_or(""),
        Direction(info[2], op),
        static_cast<uint32_t>(IntegerArg(info[3], op, "handle", 1, UINT32_MAX)),
        static_cast<uint32_t>(IntegerArg(info[4], op, "priority", 1, 0xffff)),
    };
  }

  // attachTc(ifname, netns?, direction, handle, priority)
  Napi::Value AttachTc(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "tc_attach";
    const TcArgs args = ParseTcArgs(info, op);
    int fd = OpenFd(env, op);
    uint32_t id = info_.id;
    std::string name = Name();
    return Start(env, "strata_bpf.attachTc", args.netns, [=]() -> std::optional<Failure> {
      LogCapture capture;
      int ifindex = 0;
      if (auto failure = ResolveIfindex(args.ifname, op, &ifindex)) return failure;
      LIBBPF_OPTS(bpf_tc_hook, hook);
      hook.ifindex = ifindex;
      hook.attach_point = args.point;
      int err = bpf_tc_hook_create(&hook);
      if (err != 0 && err != -EEXIST) {
        return Failure{op, -err, "create clsact qdisc on " + args.ifname, capture.Take()};
      }
      LIBBPF_OPTS(bpf_tc_opts, query);
      query.handle = args.handle;
      query.priority = args.priority;
      // ENOENT: no filter at handle/priority; EINVAL: no filter chain on the hook yet.
      err = bpf_tc_query(&hook, &query);
      if (err == 0 && query.prog_id == id) return std::nullopt;  // already attached
      if (err != 0 && err != -ENOENT && err != -EINVAL) {
        return Failure{op, -err, "query " + args.ifname, capture.Take()};
      }
      LIBBPF_OPTS(bpf_tc_opts, opts);
      opts.prog_fd = fd;
      opts.flags = BPF_TC_F_REPLACE;
      opts.handle = args.handle;
      opts.priority = args.priority;
      err = bpf_tc_attach(&hook, &opts);
      if (err != 0) return Failure{op, -err, name + " to " + args.ifname, capture.Take()};
      return std::nullopt;
    });
  }

  // detachTc(ifname, netns?, direction, handle, priority): removes the filter at handle/priority.
  Napi::Value DetachTc(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "tc_detach";
    const TcArgs args = ParseTcArgs(info, op);
    OpenFd(env, op);
    return Start(env, "strata_bpf.detachTc", args.netns, [=]() -> std::optional<Failure> {
      LogCapture capture;
      int ifindex = 0;
      if (auto failure = ResolveIfindex(args.ifname, op, &ifindex)) return failure;
      LIBBPF_OPTS(bpf_tc_hook, hook);
      hook.ifindex = ifindex;
      hook.attach_point = args.point;
      LIBBPF_OPTS(bpf_tc_opts, query);
      query.handle = args.handle;
      query.priority = args.priority;
      int err = bpf_tc_query(&hook, &query);
      // ENOENT: no filter there; EINVAL: no filter chain or no clsact qdisc (arguments are
      // checked, so nothing else makes the kernel say EINVAL here).
      if (err == -ENOENT || err == -EINVAL) return std::nullopt;
      if (err != 0) return Failure{op, -err, "query " + args.ifname, capture.Take()};
      LIBBPF_OPTS(bpf_tc_opts, opts);
      opts.handle = args.handle;
      opts.priority = args.priority;
      err = bpf_tc_detach(&hook, &opts);
      if (err != 0 && err != -ENOENT) {
        return Failure{op, -err, "detach from " + args.ifname, capture.Take()};
      }
      return std::nullopt;
    });
  }

  Napi::Value Pin(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = StringArg(info[0], "prog_pin", "path");
    if (auto failure = PinFd(OpenFd(env, "prog_pin"), path, "prog_pin")) {
      failure->detail = Name() + ": " + failure->detail;
      ThrowFailure(env, *failure);
    }
    return env.Undefined();
  }

  Napi::Value Start(Napi::Env env, const char* name, std::string netns,
                    std::function<std::optional<Failure>()> work) {
    auto* worker = new NetWorker(env, name, owner_, std::move(netns), std::move(work));
    return worker->Start();
  }

  static enum bpf_tc_attach_point Direction(const Napi::Value& value, const char* op) {
    std::string direction = StringArg(value, op, "direction");
    if (direction == "ingress") return BPF_TC_INGRESS;
    if (direction == "egress") return BPF_TC_EGRESS;
    ThrowInvalid(value.Env(), op,
                 "direction must be 'ingress' or 'egress', got '" + direction + "'");
  }

  std::string Name() const { return "program '" + info_.name + "'"; }

  int OpenFd(Napi::Env env, const char* op) {
    if (owner_->closed()) {
      ThrowBpf(env, op, EBADF, Name() + ": object " + owner_->path() + " is closed");
    }
    return info_.fd;
  }

  std::shared_ptr<ObjectState> owner_;
  ProgramInfo info_;
};

}  // namespace

Napi::Object NewProgramHandle(Napi::Env env, std::shared_ptr<ObjectState> owner,
                              const ProgramInfo& info) {
  ProgramSeed seed{std::move(owner), info};
  return Data(env).program_ctor.New({Napi::External<ProgramSeed>::New(env, &seed)});
}

void InitProgram(Napi::Env env, Napi::Object exports) {
  Data(env).program_ctor = Napi::Persistent(ProgramHandle::Define(env));
}

}  // namespace strata
