// SPDX-License-Identifier: Apache-2.0
// Failures -> JS BpfError, and libbpf log capture.
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common.h"

namespace strata {

namespace {

// Kernel-internal errno values that leak to user space from the bpf() syscall
// (include/linux/errno.h).
constexpr int kENOTSUPP = 524;
// Tail of the libbpf log kept per capture: the verifier names the failing instruction at the end.
constexpr size_t kLogTail = 16 * 1024;

thread_local std::string* tl_capture = nullptr;

int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  if (tl_capture == nullptr) {
    return level == LIBBPF_WARN ? vfprintf(stderr, format, args) : 0;
  }
  va_list copy;
  va_copy(copy, args);
  int needed = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (needed <= 0) return 0;
  std::string line(static_cast<size_t>(needed) + 1, '\0');
  vsnprintf(line.data(), line.size(), format, args);
  line.resize(static_cast<size_t>(needed));
  tl_capture->append(line);
  if (tl_capture->size() > 2 * kLogTail) tl_capture->erase(0, tl_capture->size() - kLogTail);
  return needed;
}

std::string Describe(int err) {
  if (err == kENOTSUPP) return "operation not supported by this kernel or object type";
  return std::strerror(err);
}

}  // namespace

std::string ErrnoCode(int err) {
  if (err == kENOTSUPP) return "ENOTSUPP";
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "E" + std::to_string(err);
}

LogCapture::LogCapture() : previous_(tl_capture) { tl_capture = &text_; }

LogCapture::~LogCapture() { tl_capture = previous_; }

std::string LogCapture::Take() {
  std::string text;
  text.swap(text_);
  if (text.size() > kLogTail) text.erase(0, text.size() - kLogTail);
  return text;
}

void InstallLibbpfPrint() { libbpf_set_print(LibbpfPrint); }

Napi::Value MakeBpfError(Napi::Env env, const Failure& failure) {
  int err = failure.err > 0 ? failure.err : EIO;
  std::string code = ErrnoCode(err);
  std::string message = failure.op + ": ";
  if (!failure.detail.empty()) message += failure.detail + ": ";
  message += Describe(err) + " (" + code + ")";

  Napi::Value log = failure.log.empty() ? env.Undefined() : Napi::String::New(env, failure.log);
  AddonData& data = Data(env);
  if (!data.bpf_error.IsEmpty()) {
    return data.bpf_error.New({Napi::String::New(env, failure.op), Napi::Number::New(env, err),
                               Napi::String::New(env, code), Napi::String::New(env, message), log});
  }
  Napi::Object error = Napi::Error::New(env, message).Value();
  error.Set("op", failure.op);
  error.Set("errno", err);
  error.Set("code", code);
  if (!failure.log.empty()) error.Set("log", log);
  return error;
}

void ThrowFailure(Napi::Env env, Failure failure) {
  throw Napi::Error(env, MakeBpfError(env, failure));
}

void ThrowBpf(Napi::Env env, const std::string& op, int err, const std::string& detail) {
  ThrowFailure(env, Failure{op, err, detail, {}});
}

void ThrowInvalid(Napi::Env env, const std::string& op, const std::string& detail) {
  ThrowFailure(env, Failure{op, EINVAL, detail, {}});
}

}  // namespace strata
