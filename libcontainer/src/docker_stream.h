// The attach stream of a container: the engine multiplexes stdout and stderr into frames
// ([stream, 0, 0, 0, size as big-endian u32] then `size` bytes; stream 1 = stdout,
// 2 = stderr). FrameDemuxer splits them again, whatever the read boundaries;
// DockerStdioChannel is the ByteChannel an Instance hands out: stdout in, stdin out.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "mcpgw/base/byte_channel.h"
#include "mcpgw/container/ring_buffer.h"

namespace mcpgw::container::internal {

// StreamEnd tells the engine's monitor whether the attach stream was started and when it
// ended, so the exit is reported after the last stderr bytes. Thread-safe once `on_mark` is set
// (before the stream can start).
struct StreamEnd {
  std::atomic<bool> started{false};
  std::atomic<bool> marked{false};
  absl::Notification done;
  // Called once, by Mark (wakes the monitor).
  std::function<void()> on_mark;
  // "unix:///var/run/docker.sock": for the error when the engine is lost.
  std::string engine;
  // Notified by the monitor once it knows how the container ended: with its exit code, or
  // with the engine gone (`engine_lost`). A stream that ends cleanly waits (bounded) for it,
  // so that a reader can tell a lost engine from a server that closed its output.
  absl::Notification verdict;
  std::atomic<bool> engine_lost{false};

  void SetVerdict(bool lost) {
    if (!verdict.HasBeenNotified()) {
      engine_lost = lost;
      verdict.Notify();
    }
  }

  void Mark() {
    if (!marked.exchange(true)) {
      done.Notify();
      if (on_mark) {
        on_mark();
      }
    }
  }
};

// Thread-compatible.
class FrameDemuxer {
 public:
  using Sink = absl::FunctionRef<void(int stream, absl::string_view payload)>;

  // Feed consumes `bytes`, calling `sink` with each piece of payload in order (a frame's payload
  // may come in several pieces; empty payloads are not reported). DataLoss for a frame header
  // naming a stream other than 0, 1 or 2; the demuxer then stays broken.
  absl::Status Feed(absl::string_view bytes, Sink sink);

  // mid_frame is true when a frame header or payload is incomplete.
  bool mid_frame() const { return header_len_ > 0 || remaining_ > 0; }

 private:
  std::array<unsigned char, 8> header_{};
  size_t header_len_ = 0;
  uint32_t remaining_ = 0;
  int stream_ = 0;
  bool broken_ = false;
};

// The stdio ByteChannel of a container. Owns the attach socket.
// Thread safety: as ByteChannel.
class DockerStdioChannel final : public base::ByteChannel {
 public:
  // `fd` is the upgraded attach socket; `buffered` the bytes read past the HTTP headers;
  // stderr payload goes to `stderr_tail`; `stream_ended` is notified when the stream ends.
  static absl::StatusOr<std::unique_ptr<DockerStdioChannel>> Create(
      int fd, std::string buffered, std::shared_ptr<RingBuffer> stderr_tail,
      std::shared_ptr<StreamEnd> stream_ended);

  ~DockerStdioChannel() override;

  absl::Status Start(Callbacks callbacks) override;
  absl::Status Write(absl::Span<const absl::string_view> parts) override;
  void CloseWrite() override;
  void Close() override;

 private:
  struct State;
  DockerStdioChannel(base::ByteChannelPtr inner, std::shared_ptr<State> state);

  base::ByteChannelPtr inner_;
  std::shared_ptr<State> state_;
};

}  // namespace mcpgw::container::internal
