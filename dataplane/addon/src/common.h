// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the strata_bpf addon: failures and how they reach JavaScript as BpfError,
// libbpf log capture, argument checks, per-instance state and the Promise-returning worker base.
//
// Contract: every failure becomes a JS BpfError { op, errno, code, message, log? }. On the main
// thread helpers throw it (one exception mode: NAPI_CPP_EXCEPTIONS); worker threads record a
// Failure and the worker rejects its Promise with it on the main thread. Nothing aborts.
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace strata {

// A failed operation, recorded wherever it happened and raised on the main thread.
struct Failure {
  std::string op;      // short operation name, e.g. "map_update", "xdp_attach"
  int err = 0;         // positive errno
  std::string detail;  // what was being done, e.g. "map 'flows': key is 3 bytes, expected 4"
  std::string log;     // libbpf output captured during the operation (verifier log), maybe empty
};

// Errno name as the kernel headers spell it ("ENOENT"), including kernel-internal ENOTSUPP (524).
std::string ErrnoCode(int err);

// The JS BpfError for a failure (uses the class registered by configure(), else a plain Error).
Napi::Value MakeBpfError(Napi::Env env, const Failure& failure);

// Throws the failure as a JS BpfError (main thread only).
[[noreturn]] void ThrowFailure(Napi::Env env, Failure failure);
[[noreturn]] void ThrowBpf(Napi::Env env, const std::string& op, int err,
                           const std::string& detail);
// Invalid argument: BpfError with code EINVAL.
[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& op, const std::string& detail);

// Captures libbpf's log lines printed on this thread while alive (libbpf prints on the thread
// that calls it). Keeps the tail, where the verifier reports the failing instruction.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string Take();

 private:
  std::string text_;
  std::string* previous_;
};

// Routes libbpf's printing through LogCapture; outside a capture only warnings reach stderr.
void InstallLibbpfPrint();

// Argument checks at the JS boundary. Bad input throws BpfError EINVAL naming op and argument.
std::string StringArg(const Napi::Value& value, const char* op, const char* what);
std::optional<std::string> OptionalStringArg(const Napi::Value& value, const char* op,
                                             const char* what);
Napi::Buffer<uint8_t> BufferArg(const Napi::Value& value, const char* op, const char* what);
// Integer in [min, max]; fractional, NaN or out-of-range values are rejected.
int64_t IntegerArg(const Napi::Value& value, const char* op, const char* what, int64_t min,
                   int64_t max);
// Buffers of exactly `size` bytes each, copied back to back into one block.
std::vector<uint8_t> PackBuffers(const Napi::Value& value, size_t size, const char* op,
                                 const char* what);

struct RingState;

// Per-addon-instance state (one per Node environment / worker thread).
struct AddonData {
  Napi::FunctionReference bpf_error;  // BpfError class registered by the TypeScript facade
  Napi::FunctionReference object_ctor;
  Napi::FunctionReference map_ctor;
  Napi::FunctionReference program_ctor;
  std::vector<std::weak_ptr<RingState>> rings;  // cancelled on environment teardown
};

AddonData& Data(Napi::Env env);

// Wakes a ring buffer poll in flight (it then returns no records).
void CancelRing(const RingState& ring);

// Base for slow work off the JS thread: Execute() fills failure_ or the result, and the
// returned Promise resolves with Result() or rejects with a BpfError.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 protected:
  PromiseWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

  // Called on a worker thread; report problems with Fail(), never throw.
  virtual void Run() = 0;
  // Called on the main thread after a successful Run().
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

  void Fail(Failure failure) { failure_ = std::move(failure); }

 private:
  void Execute() final {
    try {
      Run();
    } catch (const std::exception& e) {
      failure_ = Failure{"internal", EFAULT, e.what(), {}};
    }
    if (failure_) SetError(failure_->detail);
  }
  void OnOK() final {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error&) final {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    deferred_.Reject(MakeBpfError(env, failure_.value_or(Failure{"internal", EFAULT, "", {}})));
  }

  Napi::Promise::Deferred deferred_;
  std::optional<Failure> failure_;
};

// Registration of each module part's exports.
void InitObject(Napi::Env env, Napi::Object exports);
void InitMap(Napi::Env env, Napi::Object exports);
void InitProgram(Napi::Env env, Napi::Object exports);
void InitRingBuffer(Napi::Env env, Napi::Object exports);
void InitNet(Napi::Env env, Napi::Object exports);

}  // namespace strata
