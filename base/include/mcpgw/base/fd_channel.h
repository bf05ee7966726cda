// File: fd_channel.h
//
// ByteChannel over a pair of file descriptors: the process's own stdin/stdout, or the pipes
// handed over by whoever spawned a child. One I/O thread per channel reads, and writes whatever
// a writer could not write at once, so a slow reader on the other side never blocks the
// thread that reads our input (no deadlock when both sides write at the same time).
#pragma once

#include <cstddef>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
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
  void Close() override;

 private:
  FdChannel(int read_fd, int write_fd, int wake_fd, Options options);
  void Loop() noexcept;
  void Wake();
  // Writes queued bytes until done or the descriptor would block. Returns an error on failure.
  absl::Status FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fail(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int read_fd_;
  const int write_fd_;
  const int wake_fd_;  // eventfd that interrupts poll()
  const Options options_;
  int read_flags_ = -1;   // original fcntl flags, restored on Close when not owned
  int write_flags_ = -1;
  bool write_nonblocking_ = false;

  Callbacks callbacks_;  // used by the I/O thread only, after Start
  std::thread thread_;

  absl::Mutex mu_;
  std::string queued_ ABSL_GUARDED_BY(mu_);     // bytes waiting for the peer
  size_t queued_offset_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;      // Close called
  bool write_closed_ ABSL_GUARDED_BY(mu_) = false;  // CloseWrite called
  bool write_shut_ ABSL_GUARDED_BY(mu_) = false;    // write side actually ended
  absl::Status broken_ ABSL_GUARDED_BY(mu_);        // first write error
  bool fds_closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace mcpgw::base
