// SPDX-License-Identifier: Apache-2.0
// Ring buffer consumer over a BPF_MAP_TYPE_RINGBUF map.
//
// Contract: the consumer owns a dup of the map fd, so it outlives the object it came from.
// At most one poll()/consume() runs at a time (EBUSY otherwise). close() wakes a poll in flight
// through an eventfd, and resources are freed once that poll has returned.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common.h"

namespace strata {

struct RingState {
  ~RingState() {
    ring_buffer__free(ring);
    for (int fd : {epoll_fd, cancel_fd, map_fd}) {
      if (fd >= 0) close(fd);
    }
  }

  void Cancel() const {
    uint64_t one = 1;
    if (cancel_fd >= 0 && write(cancel_fd, &one, sizeof(one)) < 0) {
      // eventfd counter saturated: a wake-up is already pending, which is all Cancel needs.
    }
  }

  int map_fd = -1;
  int cancel_fd = -1;  // eventfd written by Cancel()
  int epoll_fd = -1;   // waits on the ring buffer's own epoll fd and cancel_fd
  struct ring_buffer* ring = nullptr;
  std::vector<std::string>* sink = nullptr;  // records of the poll/consume in progress
  bool busy = false;                         // main thread only
};

namespace {

int OnRecord(void* context, void* data, size_t size) {
  auto* state = static_cast<RingState*>(context);
  state->sink->emplace_back(static_cast<const char*>(data), size);
  return 0;
}

Napi::Array ToArray(Napi::Env env, const std::vector<std::string>& records) {
  Napi::Array out = Napi::Array::New(env, records.size());
  for (size_t i = 0; i < records.size(); i++) {
    out.Set(static_cast<uint32_t>(i),
            Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(records[i].data()),
                                        records[i].size()));
  }
  return out;
}

class PollWorker : public PromiseWorker {
 public:
  PollWorker(Napi::Env env, std::shared_ptr<RingState> state, int timeout_ms)
      : PromiseWorker(env, "strata_bpf.ringbufPoll"),
        state_(std::move(state)),
        timeout_ms_(timeout_ms) {
    state_->busy = true;
  }

  ~PollWorker() override { state_->busy = false; }

 private:
  void Run() override {
    using Clock = std::chrono::steady_clock;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
    struct epoll_event events[2];
    int ready;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      ready = epoll_wait(state_->epoll_fd, events, 2,
                         static_cast<int>(std::max<int64_t>(left.count(), 0)));
      if (ready >= 0 || errno != EINTR) break;
    }
    if (ready < 0) return Fail({"ringbuf_poll", errno, "epoll_wait", {}});
    for (int i = 0; i < ready; i++) {
      if (events[i].data.fd == state_->cancel_fd) return;  // closed while waiting
    }
    state_->sink = &records_;
    int consumed = ring_buffer__consume(state_->ring);
    state_->sink = nullptr;
    if (consumed < 0) Fail({"ringbuf_poll", -consumed, "consume", {}});
  }

  Napi::Value Result(Napi::Env env) override { return ToArray(env, records_); }

  std::shared_ptr<RingState> state_;
  int timeout_ms_;
  std::vector<std::string> records_;
};

class RingBufferHandle : public Napi::ObjectWrap<RingBufferHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeRingBuffer",
                       {
                           InstanceMethod<&RingBufferHandle::Poll>("poll"),
                           InstanceMethod<&RingBufferHandle::Consume>("consume"),
                           InstanceMethod<&RingBufferHandle::Close>("close"),
                       });
  }

  // new RingBuffer(mapFd): the fd is duplicated; the caller's stays with its owner.
  explicit RingBufferHandle(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<RingBufferHandle>(info) {
    Napi::Env env = info.Env();
    const char* op = "ringbuf";
    auto map_fd = static_cast<int>(IntegerArg(info[0], op, "map fd", 0, INT32_MAX));
    auto state = std::make_shared<RingState>();
    state->map_fd = fcntl(map_fd, F_DUPFD_CLOEXEC, 3);
    if (state->map_fd < 0) ThrowBpf(env, op, errno, "duplicate map fd");
    struct bpf_map_info map = {};
    uint32_t len = sizeof(map);
    if (bpf_obj_get_info_by_fd(state->map_fd, &map, &len) != 0) {
      ThrowBpf(env, op, errno, "map info");
    }
    if (map.type != BPF_MAP_TYPE_RINGBUF) {
      ThrowInvalid(env, op, std::string("map '") + map.name + "' is not a ringbuf");
    }
    LogCapture capture;
    state->ring = ring_buffer__new(state->map_fd, OnRecord, state.get(), nullptr);
    if (state->ring == nullptr) {
      ThrowFailure(env, {op, errno, std::string("map '") + map.name + "'", capture.Take()});
    }
    state->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (state->cancel_fd < 0) ThrowBpf(env, op, errno, "eventfd");
    state->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (state->epoll_fd < 0) ThrowBpf(env, op, errno, "epoll_create1");
    for (int fd : {ring_buffer__epoll_fd(state->ring), state->cancel_fd}) {
      struct epoll_event event = {};
      event.events = EPOLLIN;
      event.data.fd = fd;
      if (epoll_ctl(state->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
        ThrowBpf(env, op, errno, "epoll_ctl");
      }
    }
    AddonData& data = Data(env);
    data.rings.erase(
        std::remove_if(data.rings.begin(), data.rings.end(),
                       [](const std::weak_ptr<RingState>& ring) { return ring.expired(); }),
        data.rings.end());
    data.rings.push_back(state);
    state_ = std::move(state);
  }

  ~RingBufferHandle() override {
    if (state_) state_->Cancel();
  }

 private:
  // poll(timeoutMs) -> Promise<Buffer[]>
  Napi::Value Poll(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto timeout = static_cast<int>(IntegerArg(info[0], "ringbuf_poll", "timeoutMs", 0, INT32_MAX));
    Ready(env, "ringbuf_poll");
    auto* worker = new PollWorker(env, state_, timeout);
    return worker->Start();
  }

  // consume() -> Buffer[]: whatever is available now, without waiting.
  Napi::Value Consume(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Ready(env, "ringbuf_consume");
    std::vector<std::string> records;
    state_->sink = &records;
    int consumed = ring_buffer__consume(state_->ring);
    state_->sink = nullptr;
    if (consumed < 0) ThrowBpf(env, "ringbuf_consume", -consumed, "");
    return ToArray(env, records);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (state_) {
      state_->Cancel();
      state_.reset();  // a poll in flight keeps the state until it returns
    }
    return info.Env().Undefined();
  }

  void Ready(Napi::Env env, const char* op) {
    if (!state_) ThrowBpf(env, op, EBADF, "ring buffer is closed");
    if (state_->busy) ThrowBpf(env, op, EBUSY, "a poll is already in progress");
  }

  std::shared_ptr<RingState> state_;
};

}  // namespace

void CancelRing(const RingState& ring) { ring.Cancel(); }

void InitRingBuffer(Napi::Env env, Napi::Object exports) {
  exports.Set("RingBuffer", RingBufferHandle::Define(env));
}

}  // namespace strata
