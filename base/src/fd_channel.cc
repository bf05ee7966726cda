#include "mcpgw/base/fd_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "absl/strings/str_cat.h"

namespace mcpgw::base {
namespace {

bool IsPipeOrSocket(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return false;
  }
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
}

void IgnoreSigpipeOnce() {
  static const bool done = [] {
    struct sigaction current;
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      signal(SIGPIPE, SIG_IGN);
    }
    return true;
  }();
  (void)done;
}

// Writes as much of `iov` as the descriptor takes without blocking (or all of it, blocking,
// when the descriptor is in blocking mode). Returns bytes written, or -errno.
ssize_t WriteSome(int fd, const std::vector<iovec>& iov) {
  while (true) {
    ssize_t n = writev(fd, iov.data(), static_cast<int>(std::min<size_t>(iov.size(), IOV_MAX)));
    if (n >= 0) {
      return n;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return 0;
    }
    return -errno;
  }
}

// Drops the first `n` bytes from `iov`.
void Advance(std::vector<iovec>& iov, size_t n) {
  size_t i = 0;
  while (i < iov.size() && n >= iov[i].iov_len) {
    n -= iov[i].iov_len;
    ++i;
  }
  iov.erase(iov.begin(), iov.begin() + static_cast<std::ptrdiff_t>(i));
  if (!iov.empty() && n > 0) {
    iov[0].iov_base = static_cast<char*>(iov[0].iov_base) + n;
    iov[0].iov_len -= n;
  }
}

absl::Status WriteError(int err) {
  if (err == EPIPE || err == ECONNRESET) {
    return absl::UnavailableError("the peer closed its end of the stream");
  }
  return absl::ErrnoToStatus(err, "write");
}

}  // namespace

struct FdChannel::Core {
  Core(int read_fd, int write_fd, int wake_fd, Options options);
  ~Core();

  void Loop() noexcept;
  void RunLoop() noexcept;
  // Closes owned descriptors (restores the flags of others) and the wake fd. Once only; called
  // by Close once the I/O thread is done, or when the Core is freed.
  void ReleaseFds() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Wake();
  absl::Status Write(absl::Span<const absl::string_view> parts);
  // Writes queued bytes until done or the descriptor would block.
  absl::Status FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fail(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // On Close: writes what is still queued, waiting for the peer until close_deadline.
  void FlushBeforeClose() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int read_fd;
  const int write_fd;
  const int wake_fd;  // eventfd that interrupts poll()
  const Options options;
  int read_flags = -1;  // original fcntl flags, restored when not owned
  int write_flags = -1;
  bool write_nonblocking = false;

  Callbacks callbacks;  // used by the I/O thread only, after Start
  std::thread thread;

  absl::Mutex mu_;
  std::string queued ABSL_GUARDED_BY(mu_);  // bytes waiting for the peer
  size_t queued_offset ABSL_GUARDED_BY(mu_) = 0;
  bool started ABSL_GUARDED_BY(mu_) = false;
  bool closing ABSL_GUARDED_BY(mu_) = false;       // Close called
  absl::Time close_deadline ABSL_GUARDED_BY(mu_);  // queued bytes may be flushed until then
  bool write_closed ABSL_GUARDED_BY(mu_) = false;  // CloseWrite called
  bool write_shut ABSL_GUARDED_BY(mu_) = false;    // write side actually ended
  absl::Status broken ABSL_GUARDED_BY(mu_);        // first write error
  bool fds_released ABSL_GUARDED_BY(mu_) = false;  // set by ReleaseFds, once unused
};

absl::StatusOr<std::unique_ptr<FdChannel>> FdChannel::Create(int read_fd, int write_fd,
                                                             Options options) {
  for (int fd : {read_fd, write_fd}) {
    if (fd < 0 || fcntl(fd, F_GETFL) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("file descriptor ", fd, " is not open; pass descriptors of an open pipe, ",
                       "socket or terminal"));
    }
  }
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    return absl::ErrnoToStatus(errno, "eventfd");
  }
  IgnoreSigpipeOnce();
  return std::unique_ptr<FdChannel>(
      new FdChannel(std::make_shared<Core>(read_fd, write_fd, wake, options)));
}

FdChannel::FdChannel(std::shared_ptr<Core> core) : core_(std::move(core)) {}

FdChannel::Core::Core(int r, int w, int wake, Options opts)
    : read_fd(r), write_fd(w), wake_fd(wake), options(opts) {
  if (IsPipeOrSocket(read_fd)) {
    read_flags = fcntl(read_fd, F_GETFL);
    fcntl(read_fd, F_SETFL, read_flags | O_NONBLOCK);
  }
  if (IsPipeOrSocket(write_fd)) {
    write_nonblocking = true;
    if (write_fd != read_fd) {
      write_flags = fcntl(write_fd, F_GETFL);
      fcntl(write_fd, F_SETFL, write_flags | O_NONBLOCK);
    }
  }
}

FdChannel::Core::~Core() {
  absl::MutexLock lock(&mu_);
  ReleaseFds();
}

void FdChannel::Core::ReleaseFds() {
  if (fds_released) {
    return;
  }
  fds_released = true;
  if (options.owns_fds) {
    close(read_fd);
    if (write_fd != read_fd && !write_shut) {
      close(write_fd);
    }
  } else {
    if (read_flags >= 0) {
      fcntl(read_fd, F_SETFL, read_flags);
    }
    if (write_flags >= 0) {
      fcntl(write_fd, F_SETFL, write_flags);
    }
  }
  close(wake_fd);
}

FdChannel::~FdChannel() { Close(); }

absl::Status FdChannel::Start(Callbacks callbacks) {
  if (core_ == nullptr) {
    return absl::FailedPreconditionError("FdChannel::Start called after Close");
  }
  Core& c = *core_;
  absl::MutexLock lock(&c.mu_);
  if (c.started) {
    return absl::FailedPreconditionError("FdChannel::Start called twice");
  }
  if (c.closing) {
    return absl::FailedPreconditionError("FdChannel::Start called after Close");
  }
  c.started = true;
  c.callbacks = std::move(callbacks);
  c.thread = std::thread([core = core_] { core->Loop(); });
  return absl::OkStatus();
}

void FdChannel::Core::Wake() {
  uint64_t one = 1;
  ssize_t n = write(wake_fd, &one, sizeof(one));
  (void)n;  // a full eventfd counter already means "wake up"
}

absl::Status FdChannel::Write(absl::Span<const absl::string_view> parts) {
  if (core_ == nullptr) {
    return absl::UnavailableError("the stream is closed");
  }
  return core_->Write(parts);
}

absl::Status FdChannel::Core::Write(absl::Span<const absl::string_view> parts) {
  absl::MutexLock lock(&mu_);
  if (!broken.ok()) {
    return broken;
  }
  if (closing || write_closed) {
    return absl::UnavailableError("the stream is closed for writing");
  }
  size_t total = 0;
  for (absl::string_view p : parts) {
    total += p.size();
  }
  size_t pending = queued.size() - queued_offset;
  if (pending > 0) {
    if (pending + total > options.max_queued_write_bytes) {
      Fail(absl::ResourceExhaustedError(absl::StrCat(
          "the peer stopped reading: more than ", options.max_queued_write_bytes,
          " bytes are waiting to be written")));
      return broken;
    }
    for (absl::string_view p : parts) {
      queued.append(p.data(), p.size());
    }
    return absl::OkStatus();
  }
  std::vector<iovec> iov;
  iov.reserve(parts.size());
  for (absl::string_view p : parts) {
    if (!p.empty()) {
      iov.push_back(iovec{const_cast<char*>(p.data()), p.size()});
    }
  }
  size_t written = 0;
  while (!iov.empty()) {
    ssize_t n = WriteSome(write_fd, iov);
    if (n < 0) {
      Fail(WriteError(static_cast<int>(-n)));
      return broken;
    }
    if (n == 0 && write_nonblocking) {
      break;  // the peer is full: queue the rest for the I/O thread
    }
    written += static_cast<size_t>(n);
    Advance(iov, static_cast<size_t>(n));
  }
  if (iov.empty()) {
    return absl::OkStatus();
  }
  if (total - written > options.max_queued_write_bytes) {
    Fail(absl::ResourceExhaustedError(
        absl::StrCat("the peer stopped reading: a write of ", total,
                     " bytes does not fit the limit of ", options.max_queued_write_bytes,
                     " queued bytes")));
    return broken;
  }
  for (const iovec& v : iov) {
    queued.append(static_cast<const char*>(v.iov_base), v.iov_len);
  }
  if (started) {
    Wake();
  }
  return absl::OkStatus();
}

size_t FdChannel::queued_write_bytes() const {
  if (core_ == nullptr) {
    return 0;
  }
  absl::MutexLock lock(&core_->mu_);
  return core_->queued.size() - core_->queued_offset;
}

void FdChannel::CloseWrite() {
  if (core_ == nullptr) {
    return;
  }
  Core& c = *core_;
  absl::MutexLock lock(&c.mu_);
  if (c.write_closed || c.closing) {
    return;
  }
  c.write_closed = true;
  if (c.started) {
    c.Wake();
  } else if (c.queued_offset == c.queued.size() && !c.write_shut) {
    c.write_shut = true;
    if (c.write_fd == c.read_fd) {
      shutdown(c.write_fd, SHUT_WR);
    } else if (c.options.owns_fds) {
      close(c.write_fd);
    }
  }
}

void FdChannel::Core::Fail(absl::Status status) {
  if (broken.ok()) {
    broken = std::move(status);
  }
  queued.clear();
  queued_offset = 0;
  if (started) {
    Wake();
  }
}

absl::Status FdChannel::Core::FlushLocked() {
  while (queued_offset < queued.size()) {
    std::vector<iovec> iov{iovec{queued.data() + queued_offset, queued.size() - queued_offset}};
    ssize_t n = WriteSome(write_fd, iov);
    if (n < 0) {
      return WriteError(static_cast<int>(-n));
    }
    if (n == 0) {
      return absl::OkStatus();  // would block; poll for POLLOUT
    }
    queued_offset += static_cast<size_t>(n);
  }
  queued.clear();
  queued_offset = 0;
  if (queued.capacity() > (size_t{1} << 20)) {
    queued.shrink_to_fit();
  }
  return absl::OkStatus();
}

void FdChannel::Core::Loop() noexcept {
  RunLoop();
  // What the callbacks captured is released on this thread, once none of them can run.
  callbacks = Callbacks{};
}

void FdChannel::Core::RunLoop() noexcept {
  std::string buffer(options.read_chunk_bytes, '\0');
  bool reading = true;
  bool reported = false;
  auto report = [&](absl::Status status) {
    reading = false;
    if (!reported) {
      reported = true;
      if (callbacks.on_closed) {
        callbacks.on_closed(std::move(status));
      }
    }
  };
  while (true) {
    bool want_write = false;
    {
      absl::MutexLock lock(&mu_);
      if (closing) {
        FlushBeforeClose();
        break;
      }
      if (broken.ok() && queued_offset < queued.size()) {
        absl::Status s = FlushLocked();
        if (!s.ok()) {
          Fail(std::move(s));
        }
      }
      want_write = broken.ok() && queued_offset < queued.size();
      if (write_closed && !want_write && !write_shut) {
        write_shut = true;
        if (write_fd == read_fd) {
          shutdown(write_fd, SHUT_WR);
        } else if (options.owns_fds) {
          close(write_fd);
        }
      }
    }
    pollfd fds[3];
    nfds_t n = 0;
    fds[n++] = pollfd{wake_fd, POLLIN, 0};
    int read_index = -1;
    int write_index = -1;
    if (reading) {
      read_index = static_cast<int>(n);
      fds[n++] = pollfd{read_fd, POLLIN, 0};
    }
    if (want_write) {
      if (read_index >= 0 && read_fd == write_fd) {
        fds[read_index].events |= POLLOUT;
        write_index = read_index;
      } else {
        write_index = static_cast<int>(n);
        fds[n++] = pollfd{write_fd, POLLOUT, 0};
      }
    }
    int rc = poll(fds, n, -1);
    if (rc < 0) {
      if (errno == EINTR) {
        continue;
      }
      report(absl::ErrnoToStatus(errno, "poll"));
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&closing));
      break;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t value;
      ssize_t ignored = read(wake_fd, &value, sizeof(value));
      (void)ignored;
    }
    if (write_index >= 0 && (fds[write_index].revents & (POLLOUT | POLLERR | POLLHUP))) {
      absl::MutexLock lock(&mu_);
      if (broken.ok()) {
        absl::Status s = FlushLocked();
        if (!s.ok()) {
          Fail(std::move(s));
        }
      }
    }
    if (read_index >= 0 && (fds[read_index].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(read_fd, buffer.data(), buffer.size());
      if (got > 0) {
        if (callbacks.on_data) {
          callbacks.on_data(absl::string_view(buffer.data(), static_cast<size_t>(got)));
        }
      } else if (got == 0) {
        // End of input. A write that failed meanwhile (the peer went away) is the reason;
        // what the peer wrote before going is read first, so its last answers are not lost.
        absl::Status write_error;
        {
          absl::MutexLock lock(&mu_);
          write_error = broken;
        }
        report(std::move(write_error));
      } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
        report(errno == ECONNRESET ? absl::UnavailableError("the peer reset the connection")
                                   : absl::ErrnoToStatus(errno, "read"));
      }
    }
  }
}

void FdChannel::Core::FlushBeforeClose() {
  while (broken.ok() && queued_offset < queued.size() && !write_shut) {
    absl::Status s = FlushLocked();
    if (!s.ok() || queued_offset >= queued.size()) {
      break;
    }
    absl::Duration left = close_deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      break;
    }
    pollfd pfd{write_fd, POLLOUT, 0};
    mu_.Unlock();
    int rc = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    mu_.Lock();
    if (rc < 0 && errno != EINTR) {
      break;
    }
  }
  queued.clear();
  queued_offset = 0;
}

void FdChannel::Close() {
  if (core_ == nullptr) {
    return;
  }
  Core& c = *core_;
  std::thread thread;
  {
    absl::MutexLock lock(&c.mu_);
    if (!c.closing) {
      c.closing = true;
      c.close_deadline = absl::Now() + c.options.close_flush_timeout;
      if (c.started) {
        c.Wake();
      } else {
        c.FlushBeforeClose();
      }
    }
    thread = std::move(c.thread);
  }
  bool on_io_thread = false;
  if (thread.joinable()) {
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();  // closed from a callback: the loop ends by itself and frees the Core
      on_io_thread = true;
    } else {
      thread.join();
    }
  }
  if (!on_io_thread) {
    // The peer must see the end now (not when this object dies). Writers check `closing`
    // under the lock before touching a descriptor, so none uses them any more.
    absl::MutexLock lock(&c.mu_);
    c.ReleaseFds();
  }
  // core_ stays: other threads may still call Write (and get Unavailable); the Core is freed
  // with this object, or by the detached I/O thread when it ends.
}

}  // namespace mcpgw::base
