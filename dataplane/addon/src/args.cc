// SPDX-License-Identifier: Apache-2.0
// Argument checks at the JS boundary: wrong types or sizes become BpfError EINVAL, never a crash.
#include <cmath>
#include <cstring>

#include "common.h"

namespace strata {

std::string StringArg(const Napi::Value& value, const char* op, const char* what) {
  if (!value.IsString()) ThrowInvalid(value.Env(), op, std::string(what) + " must be a string");
  std::string text = value.As<Napi::String>().Utf8Value();
  if (text.empty() || text.find('\0') != std::string::npos) {
    ThrowInvalid(value.Env(), op, std::string(what) + " must be a non-empty string without NUL");
  }
  return text;
}

std::optional<std::string> OptionalStringArg(const Napi::Value& value, const char* op,
                                             const char* what) {
  if (value.IsUndefined() || value.IsNull()) return std::nullopt;
  return StringArg(value, op, what);
}

Napi::Buffer<uint8_t> BufferArg(const Napi::Value& value, const char* op, const char* what) {
  if (!value.IsBuffer()) ThrowInvalid(value.Env(), op, std::string(what) + " must be a Buffer");
  return value.As<Napi::Buffer<uint8_t>>();
}

int64_t IntegerArg(const Napi::Value& value, const char* op, const char* what, int64_t min,
                   int64_t max) {
  if (!value.IsNumber()) ThrowInvalid(value.Env(), op, std::string(what) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::trunc(number) != number || number < static_cast<double>(min) ||
      number > static_cast<double>(max)) {
    ThrowInvalid(value.Env(), op,
                 std::string(what) + " must be an integer in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "], got " + value.ToString().Utf8Value());
  }
  return static_cast<int64_t>(number);
}

std::vector<uint8_t> PackBuffers(const Napi::Value& value, size_t size, const char* op,
                                 const char* what) {
  if (!value.IsArray()) ThrowInvalid(value.Env(), op, std::string(what) + " must be an array");
  Napi::Array array = value.As<Napi::Array>();
  uint32_t count = array.Length();
  std::vector<uint8_t> packed(static_cast<size_t>(count) * size);
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value item = array.Get(i);
    std::string name = std::string(what) + "[" + std::to_string(i) + "]";
    if (!item.IsBuffer()) ThrowInvalid(value.Env(), op, name + " must be a Buffer");
    auto buffer = item.As<Napi::Buffer<uint8_t>>();
    if (buffer.Length() != size) {
      ThrowInvalid(value.Env(), op,
                   name + " is " + std::to_string(buffer.Length()) + " bytes, expected " +
                       std::to_string(size));
    }
    if (size > 0) std::memcpy(packed.data() + i * size, buffer.Data(), size);
  }
  return packed;
}

}  // namespace strata
