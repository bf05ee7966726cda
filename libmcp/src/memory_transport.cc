#include "mcpgw/mcp/memory_transport.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace mcpgw::mcp {
namespace {

constexpr size_t kKeptBytes = 512;

struct Closed {
  absl::Status status;
};
using Delivery = std::variant<std::string, OversizedFrame, Closed>;

// State shared by both ends; deliveries are queued here and drained by whichever thread finds
// no drain in progress.
class Link : public std::enable_shared_from_this<Link> {
 public:
  Link(MemoryTransportOptions first, MemoryTransportOptions second)
      : limits_{first.max_message_bytes, second.max_message_bytes} {}

  absl::Status Send(int from, absl::string_view frame) {
    if (frame.size() > limits_[from]) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "message of ", frame.size(), " bytes exceeds the limit of ", limits_[from], " bytes"));
    }
    {
      absl::MutexLock lock(&mu_);
      End& to = ends_[1 - from];
      if (ends_[from].closed || to.closed) {
        return absl::UnavailableError("the in-memory transport is closed");
      }
      size_t limit = limits_[1 - from];
      if (frame.size() > limit) {
        to.inbox.emplace_back(OversizedFrame{
            frame.size(), limit, std::string(frame.substr(0, kKeptBytes)),
            std::string(frame.substr(frame.size() - std::min(frame.size(), kKeptBytes)))});
      } else {
        to.inbox.emplace_back(std::string(frame));
      }
    }
    Drain();
    return absl::OkStatus();
  }

  absl::Status Start(int side, TransportSink* sink) {
    {
      absl::MutexLock lock(&mu_);
      if (ends_[side].sink != nullptr) {
        return absl::FailedPreconditionError("transport started twice");
      }
      ends_[side].sink = sink;
    }
    Drain();
    return absl::OkStatus();
  }

  void Close(int side) {
    {
      absl::MutexLock lock(&mu_);
      End& me = ends_[side];
      if (me.close_called) {
        return;
      }
      me.close_called = true;
      me.closed = true;
      me.inbox.clear();
      End& peer = ends_[1 - side];
      if (!peer.closed) {
        peer.inbox.emplace_back(Closed{absl::OkStatus()});
      }
      // Wait until no delivery to this side is running on another thread, so that after
      // Close returns our sink is never called.
      std::pair<Link*, int> args(this, side);
      mu_.Await(absl::Condition(
          +[](std::pair<Link*, int>* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            const End& e = a->first->ends_[a->second];
            return !e.delivering || e.delivering_thread == std::this_thread::get_id();
          },
          &args));
      me.sink = nullptr;
    }
    Drain();
  }

  size_t max_message_bytes(int side) const { return limits_[side]; }

 private:
  struct End {
    TransportSink* sink = nullptr;
    bool closed = false;        // nothing more is delivered to this end
    bool close_called = false;  // Close(side) ran (the peer closing sets only `closed`)
    bool delivering = false;
    std::thread::id delivering_thread;
    std::deque<Delivery> inbox;
  };

  void Drain() {
    std::shared_ptr<Link> keep = shared_from_this();  // a sink may destroy both ends
    absl::MutexLock lock(&mu_);
    if (draining_) {
      return;  // the draining thread will deliver what we queued
    }
    draining_ = true;
    while (true) {
      int side = -1;
      for (int i = 0; i < 2; ++i) {
        if (ends_[i].sink != nullptr && !ends_[i].inbox.empty() && !ends_[i].closed) {
          side = i;
          break;
        }
      }
      if (side < 0) {
        break;
      }
      End& end = ends_[side];
      Delivery d = std::move(end.inbox.front());
      end.inbox.pop_front();
      TransportSink* sink = end.sink;
      end.delivering = true;
      end.delivering_thread = std::this_thread::get_id();
      if (std::holds_alternative<Closed>(d)) {
        end.closed = true;  // nothing after the close
        end.inbox.clear();
      }
      mu_.Unlock();
      if (auto* text = std::get_if<std::string>(&d)) {
        sink->OnFrame(*text);
      } else if (auto* big = std::get_if<OversizedFrame>(&d)) {
        sink->OnOversizedFrame(*big);
      } else {
        sink->OnTransportClosed(std::get<Closed>(d).status);
      }
      mu_.Lock();
      end.delivering = false;
    }
    draining_ = false;
  }

  const size_t limits_[2];
  absl::Mutex mu_;
  End ends_[2] ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

class MemoryTransport final : public Transport {
 public:
  MemoryTransport(std::shared_ptr<Link> link, int side) : link_(std::move(link)), side_(side) {}
  ~MemoryTransport() override { Close(); }

  absl::Status Start(TransportSink* sink) override { return link_->Start(side_, sink); }
  absl::Status Send(absl::string_view frame, const SendOptions& /*options*/) override {
    return link_->Send(side_, frame);
  }
  void Close() override { link_->Close(side_); }
  size_t max_message_bytes() const override { return link_->max_message_bytes(side_); }

 private:
  std::shared_ptr<Link> link_;
  const int side_;
};

}  // namespace

std::pair<TransportPtr, TransportPtr> CreateMemoryTransportPair(MemoryTransportOptions options) {
  return CreateMemoryTransportPair(options, options);
}

std::pair<TransportPtr, TransportPtr> CreateMemoryTransportPair(MemoryTransportOptions first,
                                                                MemoryTransportOptions second) {
  auto link = std::make_shared<Link>(first, second);
  return {std::make_unique<MemoryTransport>(link, 0), std::make_unique<MemoryTransport>(link, 1)};
}

}  // namespace mcpgw::mcp
