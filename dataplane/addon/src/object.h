// SPDX-License-Identifier: Apache-2.0
// A loaded BPF object shared by the handles (maps, programs) taken from it.
//
// Contract: all fields are used on the main thread only. Map and program handles hold a
// shared_ptr and check `closed` before each use, so after close() they fail with EBADF instead
// of touching an fd number the process may have reused. close() frees the object at once, or
// when the last async operation using its fds (Busy) has finished.
#pragma once

#include <bpf/libbpf.h>

#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace strata {

struct MapInfo {
  std::string name;
  uint32_t type = 0;  // enum bpf_map_type
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t id = 0;
  int fd = -1;
  bool internal = false;  // .rodata/.data/.bss/.kconfig backing maps
};

struct ProgramInfo {
  std::string name;   // C function name
  uint32_t type = 0;  // enum bpf_prog_type
  uint32_t id = 0;
  int fd = -1;
};

class ObjectState {
 public:
  ObjectState(struct bpf_object* object, std::string path, std::vector<MapInfo> maps,
              std::vector<ProgramInfo> programs);
  ~ObjectState();
  ObjectState(const ObjectState&) = delete;
  ObjectState& operator=(const ObjectState&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<MapInfo>& maps() const { return maps_; }
  const std::vector<ProgramInfo>& programs() const { return programs_; }
  bool closed() const { return closed_; }

  void Close();
  void Acquire() { busy_++; }
  void Release();

 private:
  struct bpf_object* object_;
  std::string path_;
  std::vector<MapInfo> maps_;
  std::vector<ProgramInfo> programs_;
  bool closed_ = false;
  int busy_ = 0;  // async operations in flight that use this object's fds
};

// Keeps an object's fds open for the lifetime of an async operation (create and destroy on the
// main thread; AsyncWorkers are destroyed there).
class Busy {
 public:
  explicit Busy(std::shared_ptr<ObjectState> state) : state_(std::move(state)) {
    if (state_) state_->Acquire();
  }
  ~Busy() {
    if (state_) state_->Release();
  }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  std::shared_ptr<ObjectState> state_;
};

// Type names as bpftool prints them ("hash", "percpu_array", "xdp", "sched_cls").
std::string MapTypeName(uint32_t type);
std::string ProgramTypeName(uint32_t type);
uint32_t PossibleCpus();

// JS handles. `owner` is null for a map opened from a pin, which then owns `info.fd`.
Napi::Object NewMapHandle(Napi::Env env, std::shared_ptr<ObjectState> owner, const MapInfo& info);
Napi::Object NewProgramHandle(Napi::Env env, std::shared_ptr<ObjectState> owner,
                              const ProgramInfo& info);

// Pins fd at path (creating missing parent directories). Pinning the same object at the same
// path again is a no-op; another object already there fails with EEXIST.
std::optional<Failure> PinFd(int fd, const std::string& path, const char* op);
// Removes the pin at path if it pins the same object as fd; a missing path is a no-op, another
// object there fails with EINVAL.
std::optional<Failure> UnpinFd(int fd, const std::string& path, const char* op);

}  // namespace strata
