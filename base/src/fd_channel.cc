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
#include <vector>

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
  return std::unique_ptr<FdChannel>(new FdChannel(read_fd, write_fd, wake, options));
}

FdChannel::FdChannel(int read_fd, int write_fd, int wake_fd, Options options)
    : read_fd_(read_fd), write_fd_(write_fd), wake_fd_(wake_fd), options_(options) {
  if (IsPipeOrSocket(read_fd_)) {
    read_flags_ = fcntl(read_fd_, F_GETFL);
    fcntl(read_fd_, F_SETFL, read_flags_ | O_NONBLOCK);
  }
  if (IsPipeOrSocket(write_fd_)) {
    write_nonblocking_ = true;
    if (write_fd_ != read_fd_) {
      write_flags_ = fcntl(write_fd_, F_GETFL);
      fcntl(write_fd_, F_SETFL, write_flags_ | O_NONBLOCK);
    }
  }
}

FdChannel::~FdChannel() { Close(); }

absl::Status FdChannel::Start(Callbacks callbacks) {
  absl::MutexLock lock(&mu_);
  if (started_) {
    return absl::FailedPreconditionError("FdChannel::Start called twice");
  }
  if (closing_) {
    return absl::FailedPreconditionError("FdChannel::Start called after Close");
  }
  started_ = true;
  callbacks_ = std::move(callbacks);
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void FdChannel::Wake() {
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof(one));
  (void)n;  // a full eventfd counter already means "wake up"
}

absl::Status FdChannel::Write(absl::Span<const absl::string_view> parts) {
  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) {
    return broken_;
  }
  if (closing_ || write_closed_) {
    return absl::UnavailableError("the stream is closed for writing");
  }
  size_t total = 0;
  for (absl::string_view p : parts) {
    total += p.size();
  }
  size_t pending = queued_.size() - queued_offset_;
  if (pending > 0) {
    if (pending + total > options_.max_queued_write_bytes) {
      Fail(absl::ResourceExhaustedError(absl::StrCat(
          "the peer stopped reading: more than ", options_.max_queued_write_bytes,
          " bytes are waiting to be written")));
      return broken_;
    }
    for (absl::string_view p : parts) {
      queued_.append(p.data(), p.size());
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
    ssize_t n = WriteSome(write_fd_, iov);
    if (n < 0) {
      Fail(WriteError(static_cast<int>(-n)));
      return broken_;
    }
    if (n == 0 && write_nonblocking_) {
      break;  // the peer is full: queue the rest for the I/O thread
    }
    written += static_cast<size_t>(n);
    Advance(iov, static_cast<size_t>(n));
  }
  if (iov.empty()) {
    return absl::OkStatus();
  }
  if (total - written > options_.max_queued_write_bytes) {
    Fail(absl::ResourceExhaustedError(
        absl::StrCat("the peer stopped reading: a write of ", total,
                     " bytes does not fit the limit of ", options_.max_queued_write_bytes,
                     " queued bytes")));
    return broken_;
  }
  for (const iovec& v : iov) {
    queued_.append(static_cast<const char*>(v.iov_base), v.iov_len);
  }
  if (started_) {
    Wake();
  }
  return absl::OkStatus();
}

void FdChannel::CloseWrite() {
  absl::MutexLock lock(&mu_);
  if (write_closed_) {
    return;
  }
  write_closed_ = true;
  if (started_) {
    Wake();
  }
}

void FdChannel::Fail(absl::Status status) {
  if (broken_.ok()) {
    broken_ = std::move(status);
  }
  queued_.clear();
  queued_offset_ = 0;
  if (started_) {
    Wake();
  }
}

absl::Status FdChannel::FlushLocked() {
  while (queued_offset_ < queued_.size()) {
    std::vector<iovec> iov{
        iovec{queued_.data() + queued_offset_, queued_.size() - queued_offset_}};
    ssize_t n = WriteSome(write_fd_, iov);
    if (n < 0) {
      return WriteError(static_cast<int>(-n));
    }
    if (n == 0) {
      return absl::OkStatus();  // would block; poll for POLLOUT
    }
    queued_offset_ += static_cast<size_t>(n);
  }
  queued_.clear();
  queued_offset_ = 0;
  if (queued_.capacity() > (size_t{1} << 20)) {
    queued_.shrink_to_fit();
  }
  return absl::OkStatus();
}

void FdChannel::Loop() noexcept {
  std::string buffer(options_.read_chunk_bytes, '\0');
  bool reading = true;
  bool reported = false;
  auto report = [&](absl::Status status) {
    reading = false;
    if (!reported) {
      reported = true;
      if (callbacks_.on_closed) {
        callbacks_.on_closed(std::move(status));
      }
    }
  };
  while (true) {
    bool want_write = false;
    {
      absl::MutexLock lock(&mu_);
      if (closing_) {
        break;
      }
      if (!broken_.ok() && reading) {
        absl::Status why = broken_;
        mu_.Unlock();
        report(std::move(why));
        mu_.Lock();
        continue;
      }
      if (broken_.ok() && queued_offset_ < queued_.size()) {
        absl::Status s = FlushLocked();
        if (!s.ok()) {
          Fail(std::move(s));
          continue;
        }
      }
      want_write = queued_offset_ < queued_.size();
      if (write_closed_ && !want_write && !write_shut_) {
        write_shut_ = true;
        if (write_fd_ == read_fd_) {
          shutdown(write_fd_, SHUT_WR);
        } else if (options_.owns_fds) {
          close(write_fd_);
        }
      }
    }
    pollfd fds[3];
    nfds_t n = 0;
    fds[n++] = pollfd{wake_fd_, POLLIN, 0};
    int read_index = -1;
    int write_index = -1;
    if (reading) {
      read_index = static_cast<int>(n);
      fds[n++] = pollfd{read_fd_, POLLIN, 0};
    }
    if (want_write) {
      if (read_index >= 0 && read_fd_ == write_fd_) {
        fds[read_index].events |= POLLOUT;
        write_index = read_index;
      } else {
        write_index = static_cast<int>(n);
        fds[n++] = pollfd{write_fd_, POLLOUT, 0};
      }
    }
    int rc = poll(fds, n, -1);
    if (rc < 0) {
      if (errno == EINTR) {
        continue;
      }
      report(absl::ErrnoToStatus(errno, "poll"));
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&closing_));
      break;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t value;
      ssize_t ignored = read(wake_fd_, &value, sizeof(value));
      (void)ignored;
    }
    if (write_index >= 0 && (fds[write_index].revents & (POLLOUT | POLLERR | POLLHUP))) {
      absl::MutexLock lock(&mu_);
      if (broken_.ok()) {
        absl::Status s = FlushLocked();
        if (!s.ok()) {
          Fail(std::move(s));
        }
      }
    }
    if (read_index >= 0 && (fds[read_index].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(read_fd_, buffer.data(), buffer.size());
      if (got > 0) {
        if (callbacks_.on_data) {
          callbacks_.on_data(absl::string_view(buffer.data(), static_cast<size_t>(got)));
        }
      } else if (got == 0) {
        report(absl::OkStatus());
      } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
        report(errno == ECONNRESET ? absl::UnavailableError("the peer reset the connection")
                                   : absl::ErrnoToStatus(errno, "read"));
      }
    }
  }
}

void FdChannel::Close() {
  bool join = false;
  {
    absl::MutexLock lock(&mu_);
    if (!closing_) {
      closing_ = true;
      if (started_) {
        Wake();
      }
    }
    join = thread_.joinable() && thread_.get_id() != std::this_thread::get_id();
  }
  if (join) {
    thread_.join();
  }
  absl::MutexLock lock(&mu_);
  if (fds_closed_ || (thread_.joinable() && thread_.get_id() == std::this_thread::get_id())) {
    return;  // on the I/O thread itself: the destructor finishes the job
  }
  fds_closed_ = true;
  queued_.clear();
  if (options_.owns_fds) {
    close(read_fd_);
    if (write_fd_ != read_fd_ && !write_shut_) {
      close(write_fd_);
    }
  } else {
    if (read_flags_ >= 0) {
      fcntl(read_fd_, F_SETFL, read_flags_);
    }
    if (write_flags_ >= 0) {
      fcntl(write_fd_, F_SETFL, write_flags_);
    }
  }
  close(wake_fd_);
}

}  // namespace mcpgw::base
