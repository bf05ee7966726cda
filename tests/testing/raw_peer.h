// RawPeer is the far end of an in-memory transport driven by a test: it sends raw text and
// records every frame it receives, so tests can check exactly what a session puts on the wire.
#pragma once

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mcpgw/mcp/transport.h"

namespace mcpgw::testing {

class RawPeer final : public mcp::TransportSink {
 public:
  explicit RawPeer(mcp::TransportPtr transport) : transport_(std::move(transport)) {
    absl::Status s = transport_->Start(this);
    (void)s;
  }
  ~RawPeer() override { transport_->Close(); }

  absl::Status Send(absl::string_view text) { return transport_->Send(text); }
  void Close() { transport_->Close(); }

  // Frames received so far (copies).
  std::vector<std::string> frames() {
    absl::MutexLock lock(&mu_);
    return frames_;
  }
  // Removes and returns the frames received so far.
  std::vector<std::string> Take() {
    absl::MutexLock lock(&mu_);
    return std::exchange(frames_, {});
  }
  // Waits (real time, bounded) until at least `n` frames are there.
  bool WaitForFrames(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return frames_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  bool closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }
  std::vector<mcp::OversizedFrame> oversized() {
    absl::MutexLock lock(&mu_);
    return oversized_;
  }

  void OnFrame(absl::string_view text) override {
    absl::MutexLock lock(&mu_);
    frames_.emplace_back(text);
  }
  void OnOversizedFrame(const mcp::OversizedFrame& frame) override {
    absl::MutexLock lock(&mu_);
    oversized_.push_back(frame);
  }
  void OnTransportClosed(absl::Status) override {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  mcp::TransportPtr transport_;
  absl::Mutex mu_;
  std::vector<std::string> frames_ ABSL_GUARDED_BY(mu_);
  std::vector<mcp::OversizedFrame> oversized_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mcpgw::testing
