// File: fd_channel.h
//
// ByteChannel over a pair of file descriptors: the process's own stdin/stdout, or the pipes
// handed over by whoever spawned a child. One I/O thread per channel reads, and writes whatever
// a writer could not write at once, so a slow reader on the other side never blocks the
// thread that reads our input (no deadlock when both sides write at the same time).
#pragma once

#include <cstddef>
#include <string>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mcpgw/base/byte_channel.h"

namespace mcpgw::base {

class FdChannel final : public ByteChannel {
 public:
  struct Options {
    // Close the descriptors when the channel is closed (false for the process's own 0 and 1).
    bool owns_fds = false;
    // Bytes that may wait for the peer to read before the channel is declared broken.
    size_t max_queued_write_bytes = size_t{256} << 20;
    // Read buffer size (one read system call reads at most this much).
    size_t read_chunk_bytes = size_t{64} << 10;
    // On Close, how long bytes still queued may wait for the peer to take them.
    absl::Duration close_flush_timeout = absl::Seconds(2);
  };

  // Create wraps `read_fd` (may equal `write_fd`, e.g. a socket) and `write_fd`. Pipes and
  // sockets are switched to non-blocking mode (restored on Close when not owned); other kinds
  // (a terminal, a file) are written with blocking writes. SIGPIPE is set to be ignored
  // process-wide if it has its default action, so that a vanished peer yields EPIPE instead of
  // killing the process; programs that spawn children should restore it there.
  // Returns InvalidArgument for a descriptor that is not open.
  static absl::StatusOr<std::unique_ptr<FdChannel>> Create(int read_fd, int write_fd,
                                                           Options options);

  FdChannel(const FdChannel&) = delete;
  FdChannel& operator=(const FdChannel&) = delete;
  ~FdChannel() override;

  absl::Status Start(Callbacks callbacks) override;
  absl::Status Write(absl::Span<const absl::string_view> parts) override;
  void CloseWrite() override;
  size_t queued_write_bytes() const override;
  // Close writes what is still queued (waiting at most Options::close_flush_timeout for the
  // peer), then stops. See ByteChannel::Close.
  void Close() override;

 private:
  // Everything the I/O thread touches lives in Core, shared by the handle and the thread, so
  // that the channel may be destroyed from within its own callbacks: the thread then finishes
  // on its own and frees the Core.
  struct Core;
  explicit FdChannel(std::shared_ptr<Core> core);

  std::shared_ptr<Core> core_;
};

}  // namespace mcpgw::base
