// SPDX-License-Identifier: Apache-2.0
// Map handles: element operations, iteration, batches, pinning, and maps opened from a pin.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_set>

#include "object.h"

namespace strata {

namespace {

constexpr int kENOTSUPP = 524;

bool IsPerCpu(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
      return true;
    default:
      return false;
  }
}

// Errors meaning "this kernel or map type has no batch operation": fall back to one at a time.
bool BatchUnsupported(int err) { return err == kENOTSUPP || err == EOPNOTSUPP || err == EINVAL; }

struct MapSeed {
  std::shared_ptr<ObjectState> owner;
  MapInfo info;
};

class MapHandle : public Napi::ObjectWrap<MapHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeMap",
                       {
                           InstanceMethod<&MapHandle::Info>("info"),
                           InstanceMethod<&MapHandle::Fd>("fd"),
                           InstanceMethod<&MapHandle::Lookup>("lookup"),
                           InstanceMethod<&MapHandle::Update>("update"),
                           InstanceMethod<&MapHandle::Delete>("delete"),
                           InstanceMethod<&MapHandle::Keys>("keys"),
                           InstanceMethod<&MapHandle::Entries>("entries"),
                           InstanceMethod<&MapHandle::UpdateBatch>("updateBatch"),
                           InstanceMethod<&MapHandle::DeleteBatch>("deleteBatch"),
                           InstanceMethod<&MapHandle::Pin>("pin"),
                           InstanceMethod<&MapHandle::Unpin>("unpin"),
                           InstanceMethod<&MapHandle::Close>("close"),
                       });
  }

  explicit MapHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MapHandle>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      ThrowInvalid(info.Env(), "map", "maps come from BpfObject.map() or openPinnedMap()");
    }
    const MapSeed& seed = *info[0].As<Napi::External<MapSeed>>().Data();
    owner_ = seed.owner;
    info_ = seed.info;
    value_buffer_size_ =
        IsPerCpu(info_.type) ? ((info_.value_size + 7) / 8) * 8 * PossibleCpus() : info_.value_size;
  }

  ~MapHandle() override { CloseOwnFd(); }

 private:
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("name", info_.name);
    out.Set("type", MapTypeName(info_.type));
    out.Set("keySize", info_.key_size);
    out.Set("valueSize", info_.value_size);
    out.Set("maxEntries", info_.max_entries);
    out.Set("valueBufferSize", value_buffer_size_);
    out.Set("possibleCpus", PossibleCpus());
    out.Set("id", info_.id);
    return out;
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), OpenFd(info.Env(), "map"));
  }

  Napi::Value Lookup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto key = Key(info[0], "map_lookup");
    int fd = OpenFd(env, "map_lookup");
    auto value = Napi::Buffer<uint8_t>::New(env, value_buffer_size_);
    if (bpf_map_lookup_elem(fd, key.Data(), value.Data()) != 0) {
      if (errno == ENOENT) return env.Undefined();
      Throw(env, "map_lookup", errno, "");
    }
    return value;
  }

  Napi::Value Update(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto key = Key(info[0], "map_update");
    auto value = Value(info[1], "map_update");
    auto flags =
        static_cast<uint64_t>(IntegerArg(info[2], "map_update", "flags", BPF_ANY, BPF_EXIST));
    int fd = OpenFd(env, "map_update");
    if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags) != 0) {
      Throw(env, "map_update", errno, "");
    }
    return env.Undefined();
  }

  Napi::Value Delete(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto key = Key(info[0], "map_delete");
    int fd = OpenFd(env, "map_delete");
    if (bpf_map_delete_elem(fd, key.Data()) != 0) {
      if (errno == ENOENT) return Napi::Boolean::New(env, false);
      Throw(env, "map_delete", errno, "");
    }
    return Napi::Boolean::New(env, true);
  }

  Napi::Value Keys(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<std::string> keys = CollectKeys(env, "map_keys");
    Napi::Array out = Napi::Array::New(env, keys.size());
    for (size_t i = 0; i < keys.size(); i++) {
      out.Set(static_cast<uint32_t>(i), Copy(env, keys[i].data(), keys[i].size()));
    }
    return out;
  }

  // [[key, value]] for every key still present when its value is read.
  Napi::Value Entries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<std::string> keys = CollectKeys(env, "map_entries");
    int fd = OpenFd(env, "map_entries");
    Napi::Array out = Napi::Array::New(env);
    std::vector<uint8_t> value(value_buffer_size_);
    uint32_t n = 0;
    for (const std::string& key : keys) {
      if (bpf_map_lookup_elem(fd, key.data(), value.data()) != 0) {
        if (errno == ENOENT) continue;  // removed since it was listed
        Throw(env, "map_entries", errno, "");
      }
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, Copy(env, key.data(), key.size()));
      pair.Set(1u, Copy(env, value.data(), value.size()));
      out.Set(n++, pair);
    }
    return out;
  }

  Napi::Value UpdateBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "map_update_batch";
    std::vector<uint8_t> keys = PackBuffers(info[0], info_.key_size, op, "keys");
    std::vector<uint8_t> values = PackBuffers(info[1], value_buffer_size_, op, "values");
    uint32_t total = info[0].As<Napi::Array>().Length();
    if (info[1].As<Napi::Array>().Length() != total) {
      ThrowInvalid(env, op,
                   Name() + ": " + std::to_string(total) + " keys but " +
                       std::to_string(info[1].As<Napi::Array>().Length()) + " values");
    }
    if (total == 0) return env.Undefined();
    int fd = OpenFd(env, op);
    uint32_t count = total;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(fd, keys.data(), values.data(), &count, &opts) == 0) {
      return env.Undefined();
    }
    int err = errno;
    if (!BatchUnsupported(err) || count != 0) {
      Throw(env, op, err, std::to_string(count) + " of " + std::to_string(total) + " applied");
    }
    for (uint32_t i = 0; i < total; i++) {
      if (bpf_map_update_elem(fd, keys.data() + size_t{i} * info_.key_size,
                              values.data() + size_t{i} * value_buffer_size_, BPF_ANY) != 0) {
        Throw(env, op, errno, std::to_string(i) + " of " + std::to_string(total) + " applied");
      }
    }
    return env.Undefined();
  }

  // Deletes every present key; missing keys are skipped. Returns how many were removed.
  Napi::Value DeleteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "map_delete_batch";
    std::vector<uint8_t> keys = PackBuffers(info[0], info_.key_size, op, "keys");
    uint32_t total = info[0].As<Napi::Array>().Length();
    if (total == 0) return Napi::Number::New(env, 0);
    int fd = OpenFd(env, op);
    uint32_t removed = 0;
    uint32_t next = 0;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    while (next < total) {
      uint32_t count = total - next;
      if (bpf_map_delete_batch(fd, keys.data() + size_t{next} * info_.key_size, &count, &opts) ==
          0) {
        removed += count;
        break;
      }
      int err = errno;
      removed += count;
      next += count;
      if (err == ENOENT) {
        next++;  // the kernel stops at the first missing key: skip it and go on
      } else if (BatchUnsupported(err) && count == 0) {
        break;
      } else {
        Throw(env, op, err, std::to_string(removed) + " removed before the failure");
      }
    }
    for (; next < total; next++) {  // fallback when the kernel has no batch delete
      if (bpf_map_delete_elem(fd, keys.data() + size_t{next} * info_.key_size) == 0) {
        removed++;
      } else if (errno != ENOENT) {
        Throw(env, op, errno, std::to_string(removed) + " removed before the failure");
      }
    }
    return Napi::Number::New(env, removed);
  }

  Napi::Value Pin(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = StringArg(info[0], "map_pin", "path");
    if (auto failure = PinFd(OpenFd(env, "map_pin"), path, "map_pin")) {
      failure->detail = Name() + ": " + failure->detail;
      ThrowFailure(env, *failure);
    }
    return env.Undefined();
  }

  Napi::Value Unpin(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = StringArg(info[0], "map_unpin", "path");
    if (auto failure = UnpinFd(OpenFd(env, "map_unpin"), path, "map_unpin")) {
      failure->detail = Name() + ": " + failure->detail;
      ThrowFailure(env, *failure);
    }
    return env.Undefined();
  }

  // Releases a map opened from a pin; maps of an object are released with the object.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseOwnFd();
    return info.Env().Undefined();
  }

  void CloseOwnFd() {
    if (!owner_ && info_.fd >= 0) {
      close(info_.fd);
      info_.fd = -1;
    }
  }

  std::string Name() const { return "map '" + info_.name + "'"; }

  int OpenFd(Napi::Env env, const char* op) {
    if (owner_ && owner_->closed()) {
      ThrowBpf(env, op, EBADF, Name() + ": object " + owner_->path() + " is closed");
    }
    if (info_.fd < 0) ThrowBpf(env, op, EBADF, Name() + " is closed");
    return info_.fd;
  }

  [[noreturn]] void Throw(Napi::Env env, const char* op, int err, const std::string& detail) {
    ThrowBpf(env, op, err, detail.empty() ? Name() : Name() + ": " + detail);
  }

  Napi::Buffer<uint8_t> Key(const Napi::Value& value, const char* op) {
    auto key = BufferArg(value, op, "key");
    if (key.Length() != info_.key_size) {
      ThrowInvalid(value.Env(), op,
                   Name() + ": key is " + std::to_string(key.Length()) + " bytes, expected " +
                       std::to_string(info_.key_size));
    }
    return key;
  }

  Napi::Buffer<uint8_t> Value(const Napi::Value& value, const char* op) {
    auto buffer = BufferArg(value, op, "value");
    if (buffer.Length() != value_buffer_size_) {
      std::string expected = std::to_string(value_buffer_size_);
      if (IsPerCpu(info_.type)) {
        expected += " (" + std::to_string(PossibleCpus()) + " possible CPUs x " +
                    std::to_string((info_.value_size + 7) / 8 * 8) + ")";
      }
      ThrowInvalid(value.Env(), op,
                   Name() + ": value is " + std::to_string(buffer.Length()) + " bytes, expected " +
                       expected);
    }
    return buffer;
  }

  // Walks the map with bpf_map_get_next_key. If a concurrent delete makes the kernel restart
  // from the first key, keys already seen are skipped; the walk is bounded either way.
  std::vector<std::string> CollectKeys(Napi::Env env, const char* op) {
    int fd = OpenFd(env, op);
    std::vector<std::string> keys;
    std::unordered_set<std::string> seen;
    std::string current(info_.key_size, '\0');
    std::string next(info_.key_size, '\0');
    uint64_t budget = 2 * uint64_t{info_.max_entries} + 16;
    for (bool first = true; budget > 0; first = false, budget--) {
      if (bpf_map_get_next_key(fd, first ? nullptr : current.data(), next.data()) != 0) {
        if (errno == ENOENT) break;
        Throw(env, op, errno, "");
      }
      if (seen.insert(next).second) keys.push_back(next);
      current.swap(next);
    }
    return keys;
  }

  static Napi::Buffer<uint8_t> Copy(Napi::Env env, const void* data, size_t size) {
    return Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(data), size);
  }

  std::shared_ptr<ObjectState> owner_;
  MapInfo info_;
  uint32_t value_buffer_size_ = 0;
};

// openPinnedMap(path) -> NativeMap owning its own fd.
Napi::Value OpenPinnedMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "map_open";
  std::string path = StringArg(info[0], op, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowBpf(env, op, errno, "open pin " + path);
  struct bpf_map_info kernel = {};
  uint32_t len = sizeof(kernel);
  char link[64] = {};
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(proc.c_str(), link, sizeof(link) - 1);
  if (n < 0 || std::string(link, static_cast<size_t>(n)) != "anon_inode:bpf-map") {
    close(fd);
    ThrowInvalid(env, op, path + " does not pin a map");
  }
  if (bpf_obj_get_info_by_fd(fd, &kernel, &len) != 0) {
    int err = errno;
    close(fd);
    ThrowBpf(env, op, err, "map info of " + path);
  }
  MapSeed seed;
  seed.info.name = kernel.name;
  seed.info.type = kernel.type;
  seed.info.key_size = kernel.key_size;
  seed.info.value_size = kernel.value_size;
  seed.info.max_entries = kernel.max_entries;
  seed.info.id = kernel.id;
  seed.info.fd = fd;
  return Data(env).map_ctor.New({Napi::External<MapSeed>::New(env, &seed)});
}

}  // namespace

Napi::Object NewMapHandle(Napi::Env env, std::shared_ptr<ObjectState> owner, const MapInfo& info) {
  MapSeed seed{std::move(owner), info};
  return Data(env).map_ctor.New({Napi::External<MapSeed>::New(env, &seed)});
}

void InitMap(Napi::Env env, Napi::Object exports) {
  Data(env).map_ctor = Napi::Persistent(MapHandle::Define(env));
  exports.Set("openPinnedMap", Napi::Function::New(env, OpenPinnedMap, "openPinnedMap"));
}

}  // namespace strata
