// SPDX-License-Identifier: Apache-2.0
// loadObject (open + rodata + load in a worker), the object handle, and pinning helpers.
#include "object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

namespace strata {

ObjectState::ObjectState(struct bpf_object* object, std::string path, std::vector<MapInfo> maps,
                         std::vector<ProgramInfo> programs)
    : object_(object),
      path_(std::move(path)),
      maps_(std::move(maps)),
      programs_(std::move(programs)) {}

ObjectState::~ObjectState() { bpf_object__close(object_); }

void ObjectState::Close() {
  closed_ = true;
  if (busy_ == 0 && object_ != nullptr) {
    bpf_object__close(object_);
    object_ = nullptr;
  }
}

void ObjectState::Release() {
  busy_--;
  if (closed_ && busy_ == 0) Close();
}

std::string MapTypeName(uint32_t type) {
  const char* name = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(type));
  return name != nullptr ? name : "unknown(" + std::to_string(type) + ")";
}

std::string ProgramTypeName(uint32_t type) {
  const char* name = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(type));
  return name != nullptr ? name : "unknown(" + std::to_string(type) + ")";
}

uint32_t PossibleCpus() {
  static const int cpus = libbpf_num_possible_cpus();
  return cpus > 0 ? static_cast<uint32_t>(cpus) : 1;
}

namespace {

// ---- pinning -------------------------------------------------------------------------------

// What an fd refers to: "bpf-map" or "bpf-prog" (anon inode name) plus the kernel object id.
// Map ids and program ids are separate number spaces, so both parts are compared.
std::optional<Failure> Identify(int fd, const char* op, std::string* kind, uint32_t* id) {
  char link[64];
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(proc.c_str(), link, sizeof(link) - 1);
  if (n < 0) return Failure{op, errno, "identify fd " + std::to_string(fd), {}};
  link[n] = '\0';
  *kind = link;
  if (*kind == "anon_inode:bpf-map") {
    struct bpf_map_info info = {};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return Failure{op, errno, "map info", {}};
    *id = info.id;
  } else if (*kind == "anon_inode:bpf-prog") {
    struct bpf_prog_info info = {};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
      return Failure{op, errno, "program info", {}};
    }
    *id = info.id;
  } else {
    *id = 0;
  }
  return std::nullopt;
}

std::optional<Failure> MakeParents(const std::string& path, const char* op) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Failure{op, errno, "create directory " + dir, {}};
    }
  }
  return std::nullopt;
}

// Compares what is pinned at path with fd. *same = false and no failure when path is missing.
std::optional<Failure> PinnedSame(int fd, const std::string& path, const char* op, bool* exists,
                                  bool* same) {
  *exists = false;
  *same = false;
  int pinned = bpf_obj_get(path.c_str());
  if (pinned < 0) {
    if (errno == ENOENT) return std::nullopt;
    return Failure{op, errno, "open pin " + path, {}};
  }
  *exists = true;
  std::string mine_kind, pinned_kind;
  uint32_t mine_id = 0, pinned_id = 0;
  auto failure = Identify(fd, op, &mine_kind, &mine_id);
  if (!failure) failure = Identify(pinned, op, &pinned_kind, &pinned_id);
  close(pinned);
  if (failure) return failure;
  *same = mine_kind == pinned_kind && mine_id == pinned_id;
  return std::nullopt;
}

}  // namespace

std::optional<Failure> PinFd(int fd, const std::string& path, const char* op) {
  bool exists = false, same = false;
  if (auto failure = PinnedSame(fd, path, op, &exists, &same)) return failure;
  if (same) return std::nullopt;
  if (exists) return Failure{op, EEXIST, path + " pins another object", {}};
  if (auto failure = MakeParents(path, op)) return failure;
  if (bpf_obj_pin(fd, path.c_str()) != 0) return Failure{op, errno, "pin at " + path, {}};
  return std::nullopt;
}

std::optional<Failure> UnpinFd(int fd, const std::string& path, const char* op) {
  bool exists = false, same = false;
  if (auto failure = PinnedSame(fd, path, op, &exists, &same)) return failure;
  if (!exists) return std::nullopt;
  if (!same) return Failure{op, EINVAL, path + " pins another object", {}};
  if (unlink(path.c_str()) != 0) return Failure{op, errno, "unlink " + path, {}};
  return std::nullopt;
}

namespace {

// ---- load ----------------------------------------------------------------------------------

// One `const volatile` value to write into .rodata before load.
struct RodataValue {
  std::string name;
  bool is_integer = false;
  bool negative = false;
  bool too_wide = false;       // more than 64 bits of magnitude
  uint64_t magnitude = 0;      // integers: |value|
  std::vector<uint8_t> bytes;  // Buffers: exact contents
};

// Where a global lives: the datasec (".rodata", ".rodata.foo") and its place in it.
struct RodataSlot {
  std::string section;
  uint32_t offset = 0;
  uint32_t size = 0;
};

std::optional<RodataSlot> FindRodata(const struct btf* btf, const std::string& name) {
  for (uint32_t id = 1; id < btf__type_cnt(btf); id++) {
    const struct btf_type* type = btf__type_by_id(btf, id);
    if (!btf_is_datasec(type)) continue;
    std::string section = btf__name_by_offset(btf, type->name_off);
    if (section.rfind(".rodata", 0) != 0) continue;
    const struct btf_var_secinfo* vars = btf_var_secinfos(type);
    for (uint16_t i = 0; i < btf_vlen(type); i++) {
      const struct btf_type* var = btf__type_by_id(btf, vars[i].type);
      if (var != nullptr && name == btf__name_by_offset(btf, var->name_off)) {
        return RodataSlot{section, vars[i].offset, vars[i].size};
      }
    }
  }
  return std::nullopt;
}

// Little-endian two's complement of ±magnitude in `size` bytes, or a failure when out of range.
std::optional<Failure> EncodeInteger(const RodataValue& value, uint32_t size,
                                     std::vector<uint8_t>* out) {
  if (size != 1 && size != 2 && size != 4 && size != 8) {
    return Failure{"rodata",
                   EINVAL,
                   "'" + value.name + "' is " + std::to_string(size) +
                       " bytes, not an integer width; pass a Buffer",
                   {}};
  }
  uint32_t bits = size * 8;
  uint64_t max_positive = bits == 64 ? UINT64_MAX : (uint64_t{1} << bits) - 1;
  uint64_t max_negative = uint64_t{1} << (bits - 1);
  if (value.too_wide ||
      (value.negative ? value.magnitude > max_negative : value.magnitude > max_positive)) {
    return Failure{
        "rodata",
        EINVAL,
        "value for '" + value.name + "' does not fit in " + std::to_string(size) + " bytes",
        {}};
  }
  uint64_t raw = value.negative ? ~value.magnitude + 1 : value.magnitude;
  out->resize(size);
  for (uint32_t i = 0; i < size; i++) (*out)[i] = static_cast<uint8_t>(raw >> (8 * i));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  std::reverse(out->begin(), out->end());
#endif
  return std::nullopt;
}

std::optional<Failure> ApplyRodata(struct bpf_object* object,
                                   const std::vector<RodataValue>& values) {
  if (values.empty()) return std::nullopt;
  const struct btf* btf = bpf_object__btf(object);
  if (btf == nullptr) {
    return Failure{"rodata", ENOENT, "object has no BTF, so globals cannot be found by name", {}};
  }
  std::map<std::string, std::vector<uint8_t>> images;  // section -> new initial value
  for (const RodataValue& value : values) {
    auto slot = FindRodata(btf, value.name);
    if (!slot) {
      return Failure{"rodata", ENOENT, "no const volatile global '" + value.name + "'", {}};
    }
    std::vector<uint8_t> bytes;
    if (value.is_integer) {
      if (auto failure = EncodeInteger(value, slot->size, &bytes)) return failure;
    } else if (value.bytes.size() != slot->size) {
      return Failure{"rodata",
                     EINVAL,
                     "'" + value.name + "' is " + std::to_string(slot->size) + " bytes, got " +
                         std::to_string(value.bytes.size()),
                     {}};
    } else {
      bytes = value.bytes;
    }
    auto image = images.find(slot->section);
    if (image == images.end()) {
      struct bpf_map* map = bpf_object__find_map_by_name(object, slot->section.c_str());
      size_t size = 0;
      const void* initial = map != nullptr ? bpf_map__initial_value(map, &size) : nullptr;
      if (initial == nullptr) {
        return Failure{"rodata", ENOENT, "no map backs section " + slot->section, {}};
      }
      const auto* start = static_cast<const uint8_t*>(initial);
      image = images.emplace(slot->section, std::vector<uint8_t>(start, start + size)).first;
    }
    if (static_cast<size_t>(slot->offset) + slot->size > image->second.size()) {
      return Failure{"rodata", EINVAL, "'" + value.name + "' lies outside its section", {}};
    }
    std::memcpy(image->second.data() + slot->offset, bytes.data(), bytes.size());
  }
  for (const auto& [section, image] : images) {
    struct bpf_map* map = bpf_object__find_map_by_name(object, section.c_str());
    int err = bpf_map__set_initial_value(map, image.data(), image.size());
    if (err != 0) return Failure{"rodata", -err, "set initial value of " + section, {}};
  }
  return std::nullopt;
}

std::optional<Failure> Describe(struct bpf_object* object, std::vector<MapInfo>* maps,
                                std::vector<ProgramInfo>* programs) {
  struct bpf_map* map;
  bpf_object__for_each_map(map, object) {
    MapInfo info;
    info.name = bpf_map__name(map);
    info.type = bpf_map__type(map);
    info.key_size = bpf_map__key_size(map);
    info.value_size = bpf_map__value_size(map);
    info.max_entries = bpf_map__max_entries(map);
    info.fd = bpf_map__fd(map);
    info.internal = bpf_map__is_internal(map);
    struct bpf_map_info kernel = {};
    uint32_t len = sizeof(kernel);
    if (bpf_obj_get_info_by_fd(info.fd, &kernel, &len) != 0) {
      return Failure{"load", errno, "info of map '" + info.name + "'", {}};
    }
    info.id = kernel.id;
    maps->push_back(std::move(info));
  }
  struct bpf_program* program;
  bpf_object__for_each_program(program, object) {
    ProgramInfo info;
    info.name = bpf_program__name(program);
    info.type = bpf_program__type(program);
    info.fd = bpf_program__fd(program);
    if (info.fd < 0) continue;  // not loaded (autoload off)
    struct bpf_prog_info kernel = {};
    uint32_t len = sizeof(kernel);
    if (bpf_obj_get_info_by_fd(info.fd, &kernel, &len) != 0) {
      return Failure{"load", errno, "info of program '" + info.name + "'", {}};
    }
    info.id = kernel.id;
    programs->push_back(std::move(info));
  }
  return std::nullopt;
}

class ObjectHandle : public Napi::ObjectWrap<ObjectHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeObject",
                       {
                           InstanceMethod<&ObjectHandle::Maps>("maps"),
                           InstanceMethod<&ObjectHandle::Programs>("programs"),
                           InstanceMethod<&ObjectHandle::Map>("map"),
                           InstanceMethod<&ObjectHandle::Program>("program"),
                           InstanceMethod<&ObjectHandle::Close>("close"),
                       });
  }

  explicit ObjectHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ObjectHandle>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      ThrowInvalid(info.Env(), "load", "objects come from loadObject()");
    }
    state_ = *info[0].As<Napi::External<std::shared_ptr<ObjectState>>>().Data();
  }

 private:
  // [{ name, internal }] for every map, internal (.rodata, .bss, ...) included.
  Napi::Value Maps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& maps = state_->maps();
    Napi::Array out = Napi::Array::New(env, maps.size());
    for (size_t i = 0; i < maps.size(); i++) {
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("name", maps[i].name);
      entry.Set("internal", maps[i].internal);
      out.Set(static_cast<uint32_t>(i), entry);
    }
    return out;
  }

  Napi::Value Programs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& programs = state_->programs();
    Napi::Array out = Napi::Array::New(env, programs.size());
    for (size_t i = 0; i < programs.size(); i++) {
      out.Set(static_cast<uint32_t>(i), programs[i].name);
    }
    return out;
  }

  Napi::Value Map(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = StringArg(info[0], "map", "name");
    Open(env, "map");
    for (const MapInfo& map : state_->maps()) {
      if (map.name == name) return NewMapHandle(env, state_, map);
    }
    ThrowBpf(env, "map", ENOENT, "no map '" + name + "' in " + state_->path());
  }

  Napi::Value Program(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = StringArg(info[0], "program", "name");
    Open(env, "program");
    for (const ProgramInfo& program : state_->programs()) {
      if (program.name == name) return NewProgramHandle(env, state_, program);
    }
    ThrowBpf(env, "program", ENOENT, "no program '" + name + "' in " + state_->path());
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    state_->Close();
    return info.Env().Undefined();
  }

  void Open(Napi::Env env, const char* op) {
    if (state_->closed()) ThrowBpf(env, op, EBADF, "object " + state_->path() + " is closed");
  }

  std::shared_ptr<ObjectState> state_;
};

class LoadWorker : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, std::string pin_root, std::vector<RodataValue> rodata)
      : PromiseWorker(env, "strata_bpf.load"),
        path_(std::move(path)),
        pin_root_(std::move(pin_root)),
        rodata_(std::move(rodata)) {}

  ~LoadWorker() override { bpf_object__close(object_); }

 private:
  void Run() override {
    LogCapture capture;
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    if (!pin_root_.empty()) opts.pin_root_path = pin_root_.c_str();
    object_ = bpf_object__open_file(path_.c_str(), &opts);
    if (object_ == nullptr) {
      return Fail({"load", errno, "open " + path_, capture.Take()});
    }
    if (auto failure = ApplyRodata(object_, rodata_)) {
      failure->detail += " in " + path_;
      return Fail(*failure);
    }
    int err = bpf_object__load(object_);
    if (err != 0) return Fail({"load", -err, "load " + path_, capture.Take()});
    if (auto failure = Describe(object_, &maps_, &programs_)) return Fail(*failure);
  }

  Napi::Value Result(Napi::Env env) override {
    auto state =
        std::make_shared<ObjectState>(object_, path_, std::move(maps_), std::move(programs_));
    object_ = nullptr;
    return Data(env).object_ctor.New(
        {Napi::External<std::shared_ptr<ObjectState>>::New(env, &state)});
  }

  std::string path_;
  std::string pin_root_;
  std::vector<RodataValue> rodata_;
  struct bpf_object* object_ = nullptr;
  std::vector<MapInfo> maps_;
  std::vector<ProgramInfo> programs_;
};

std::vector<RodataValue> RodataArg(const Napi::Value& value) {
  Napi::Env env = value.Env();
  std::vector<RodataValue> values;
  if (value.IsUndefined() || value.IsNull()) return values;
  if (!value.IsArray()) ThrowInvalid(env, "rodata", "rodata must be an array of [name, value]");
  Napi::Array entries = value.As<Napi::Array>();
  for (uint32_t i = 0; i < entries.Length(); i++) {
    Napi::Value entry = entries.Get(i);
    if (!entry.IsArray() || entry.As<Napi::Array>().Length() != 2) {
      ThrowInvalid(env, "rodata", "rodata entries must be [name, value] pairs");
    }
    RodataValue rodata;
    rodata.name = StringArg(entry.As<Napi::Array>().Get(0u), "rodata", "rodata name");
    Napi::Value item = entry.As<Napi::Array>().Get(1u);
    if (item.IsBuffer()) {
      auto buffer = item.As<Napi::Buffer<uint8_t>>();
      rodata.bytes.assign(buffer.Data(), buffer.Data() + buffer.Length());
    } else if (item.IsBigInt()) {
      Napi::BigInt big = item.As<Napi::BigInt>();
      int sign = 0;
      std::vector<uint64_t> magnitude(std::max<size_t>(big.WordCount(), 1), 0);
      size_t words = magnitude.size();
      big.ToWords(&sign, &words, magnitude.data());
      rodata.is_integer = true;
      rodata.negative = sign != 0;
      rodata.too_wide = words > 1;
      rodata.magnitude = magnitude[0];
    } else {
      ThrowInvalid(env, "rodata", "value of '" + rodata.name + "' must be a bigint or a Buffer");
    }
    values.push_back(std::move(rodata));
  }
  return values;
}

// loadObject(path, rodata: [name, bigint | Buffer][], pinRoot?) -> Promise<NativeObject>
Napi::Value LoadObject(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info[0], "load", "path");
  std::vector<RodataValue> rodata = RodataArg(info[1]);
  std::string pin_root = OptionalStringArg(info[2], "load", "pinRoot").value_or("");
  auto* worker = new LoadWorker(env, std::move(path), std::move(pin_root), std::move(rodata));
  return worker->Start();
}

}  // namespace

void InitObject(Napi::Env env, Napi::Object exports) {
  Data(env).object_ctor = Napi::Persistent(ObjectHandle::Define(env));
  exports.Set("loadObject", Napi::Function::New(env, LoadObject, "loadObject"));
}

}  // namespace strata
