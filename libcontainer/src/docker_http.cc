#include "docker_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace mcpgw::container::internal {
namespace {

constexpr size_t kMaxHeadBytes = 64 << 10;
constexpr size_t kMaxLineBytes = 8 << 10;

int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) {
    return -1;
  }
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) {
    return 0;
  }
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
}

// WaitFor polls `fd` for `events` until `deadline`.
absl::Status WaitFor(int fd, short events, absl::Time deadline, const std::string& display) {
  while (true) {
    pollfd p{.fd = fd, .events = events, .revents = 0};
    int n = poll(&p, 1, PollTimeoutMs(deadline));
    if (n > 0) {
      return absl::OkStatus();
    }
    if (n == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("the Docker engine at ", display, " did not answer in time"));
    }
    if (errno != EINTR) {
      return absl::ErrnoToStatus(errno, "poll");
    }
  }
}

absl::Status ConnectError(int err, const std::string& display, const std::string& path) {
  if (err == EACCES || err == EPERM) {
    return absl::PermissionDeniedError(absl::StrCat(
        "permission denied on the Docker engine socket ", path.empty() ? display : path,
        ": add this user to the 'docker' group (then log in again), or run as root"));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot reach the Docker engine at ", display,
                   ": is dockerd running? (start it, or set DOCKER_HOST) [", strerror(err), "]"));
}

}  // namespace

absl::StatusOr<DockerEndpoint> ParseDockerHost(absl::string_view host) {
  DockerEndpoint ep;
  ep.display = std::string(host);
  absl::string_view rest = host;
  if (absl::ConsumePrefix(&rest, "unix://")) {
    if (rest.empty() || rest.size() >= sizeof(sockaddr_un::sun_path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad Docker host '", host, "': the socket path is empty or too long"));
    }
    ep.is_unix = true;
    ep.path = std::string(rest);
    return ep;
  }
  if (absl::ConsumePrefix(&rest, "tcp://")) {
    absl::ConsumeSuffix(&rest, "/");
    size_t colon = rest.rfind(':');
    int port = 0;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad Docker host '", host, "': expected tcp://host:port"));
    }
    ep.is_unix = false;
    ep.host = std::string(rest.substr(0, colon));
    if (ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']') {
      ep.host = ep.host.substr(1, ep.host.size() - 2);
    }
    ep.port = std::to_string(port);
    return ep;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "bad Docker host '", host, "': expected unix:///path/to/docker.sock or tcp://host:port"));
}

const std::string* HttpHead::Header(absl::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) {
      return &value;
    }
  }
  return nullptr;
}

absl::StatusOr<HttpConnection> HttpConnection::Open(const DockerEndpoint& endpoint,
                                                    absl::Duration timeout) {
  if (endpoint.is_unix) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return absl::ErrnoToStatus(errno, "socket");
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, endpoint.path.data(), endpoint.path.size());
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      int err = errno;
      close(fd);
      return ConnectError(err, endpoint.display, endpoint.path);
    }
    return HttpConnection(fd, endpoint.display);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = getaddrinfo(endpoint.host.c_str(), endpoint.port.c_str(), &hints, &list);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve the Docker host ", endpoint.display, ": ", gai_strerror(rc)));
  }
  int last_err = ECONNREFUSED;
  absl::Time deadline = absl::Now() + timeout;
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      last_err = errno;
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno == EINPROGRESS) {
      absl::Status waited = WaitFor(fd, POLLOUT, deadline, endpoint.display);
      int err = ETIMEDOUT;
      socklen_t len = sizeof(err);
      if (waited.ok()) {
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
      errno = err;
    } else {
      errno = 0;
    }
    if (errno == 0) {
      freeaddrinfo(list);
      // Back to blocking mode: reads and writes are guarded by poll.
      int flags = fcntl(fd, F_GETFL);
      fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
      return HttpConnection(fd, endpoint.display);
    }
    last_err = errno;
    close(fd);
  }
  freeaddrinfo(list);
  return ConnectError(last_err, endpoint.display, "");
}

HttpConnection::HttpConnection(HttpConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      display_(std::move(other.display_)),
      buffer_(std::move(other.buffer_)),
      pos_(std::exchange(other.pos_, 0)) {}

HttpConnection& HttpConnection::operator=(HttpConnection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
    display_ = std::move(other.display_);
    buffer_ = std::move(other.buffer_);
    pos_ = std::exchange(other.pos_, 0);
  }
  return *this;
}

HttpConnection::~HttpConnection() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

absl::Status HttpConnection::SendRequest(absl::string_view method, absl::string_view target,
                                         absl::string_view body, bool upgrade,
                                         absl::Time deadline) {
  std::string req =
      absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: docker\r\n", "User-Agent: mcpgw\r\n");
  if (upgrade) {
    absl::StrAppend(&req, "Connection: Upgrade\r\nUpgrade: tcp\r\n");
  } else {
    absl::StrAppend(&req, "Connection: close\r\n");
  }
  if (!body.empty()) {
    absl::StrAppend(&req, "Content-Type: application/json\r\n");
  }
  if (!body.empty() || method == "POST") {
    absl::StrAppend(&req, "Content-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&req, "\r\n", body);
  size_t done = 0;
  while (done < req.size()) {
    absl::Status ready = WaitFor(fd_, POLLOUT, deadline, display_);
    if (!ready.ok()) {
      return ready;
    }
    ssize_t n = send(fd_, req.data() + done, req.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
        continue;
      }
      return absl::UnavailableError(
          absl::StrCat("writing to the Docker engine at ", display_, " failed: ", strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status HttpConnection::Fill(absl::Time deadline) {
  if (pos_ > 0 && pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  while (true) {
    absl::Status ready = WaitFor(fd_, POLLIN, deadline, display_);
    if (!ready.ok()) {
      return ready;
    }
    char chunk[16384];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return absl::OkStatus();
    }
    if (n == 0) {
      return absl::OutOfRangeError("end of stream");
    }
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      return absl::UnavailableError(absl::StrCat("reading from the Docker engine at ", display_,
                                                 " failed: ", strerror(errno)));
    }
  }
}

absl::StatusOr<std::string> HttpConnection::ReadLine(absl::Time deadline) {
  while (true) {
    size_t eol = buffer_.find("\r\n", pos_);
    if (eol != std::string::npos) {
      std::string line = buffer_.substr(pos_, eol - pos_);
      pos_ = eol + 2;
      return line;
    }
    if (buffer_.size() - pos_ > kMaxLineBytes) {
      return absl::DataLossError("the Docker engine sent an over-long HTTP line");
    }
    absl::Status filled = Fill(deadline);
    if (!filled.ok()) {
      if (absl::IsOutOfRange(filled)) {
        return absl::UnavailableError(
            absl::StrCat("the Docker engine at ", display_, " closed the connection early"));
      }
      return filled;
    }
  }
}

absl::StatusOr<HttpHead> HttpConnection::ReadHead(absl::Time deadline) {
  HttpHead head;
  size_t total = 0;
  absl::StatusOr<std::string> status_line = ReadLine(deadline);
  if (!status_line.ok()) {
    return status_line.status();
  }
  // "HTTP/1.1 200 OK"
  absl::string_view sl = *status_line;
  if (!absl::StartsWith(sl, "HTTP/1.") || sl.size() < 12 ||
      !absl::SimpleAtoi(sl.substr(9, 3), &head.status)) {
    return absl::DataLossError(
        absl::StrCat("the Docker engine sent a malformed status line: '", sl.substr(0, 80), "'"));
  }
  head.reason = std::string(absl::StripAsciiWhitespace(sl.substr(12)));
  while (true) {
    absl::StatusOr<std::string> line = ReadLine(deadline);
    if (!line.ok()) {
      return line.status();
    }
    total += line->size() + 2;
    if (total > kMaxHeadBytes) {
      return absl::DataLossError("the Docker engine sent over-long HTTP headers");
    }
    if (line->empty()) {
      return head;
    }
    size_t colon = line->find(':');
    if (colon == std::string::npos) {
      continue;
    }
    head.headers.emplace_back(
        absl::AsciiStrToLower(line->substr(0, colon)),
        std::string(absl::StripAsciiWhitespace(absl::string_view(*line).substr(colon + 1))));
  }
}

absl::Status HttpConnection::PassOn(uint64_t n, absl::FunctionRef<absl::Time()> deadline,
                                    absl::FunctionRef<absl::Status(absl::string_view)> sink) {
  // In pieces of at most what one read brings, so that a huge body is refused by the sink
  // before it is all in memory.
  while (n > 0) {
    if (pos_ == buffer_.size()) {
      absl::Status filled = Fill(deadline());
      if (absl::IsOutOfRange(filled)) {
        return absl::UnavailableError(
            absl::StrCat("the Docker engine at ", display_, " closed the connection early"));
      }
      if (!filled.ok()) {
        return filled;
      }
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(n, buffer_.size() - pos_));
    absl::Status taken = sink(absl::string_view(buffer_).substr(pos_, take));
    pos_ += take;
    n -= take;
    if (!taken.ok()) {
      return taken;
    }
  }
  return absl::OkStatus();
}

absl::Status HttpConnection::ReadBodyTo(const HttpHead& head,
                                        absl::FunctionRef<absl::Time()> deadline,
                                        absl::FunctionRef<absl::Status(absl::string_view)> sink) {
  if (head.status == 204 || head.status == 304 || head.status / 100 == 1) {
    return absl::OkStatus();
  }
  const std::string* te = head.Header("transfer-encoding");
  if (te != nullptr && absl::StrContains(absl::AsciiStrToLower(*te), "chunked")) {
    while (true) {
      absl::StatusOr<std::string> size_line = ReadLine(deadline());
      if (!size_line.ok()) {
        return size_line.status();
      }
      absl::string_view hex = *size_line;
      hex = hex.substr(0, hex.find(';'));
      hex = absl::StripAsciiWhitespace(hex);
      uint64_t size = 0;
      if (hex.empty() || hex.size() > 15 || !absl::SimpleHexAtoi(hex, &size)) {
        return absl::DataLossError("the Docker engine sent a malformed chunk size");
      }
      if (size == 0) {
        // Trailers, up to the empty line.
        while (true) {
          absl::StatusOr<std::string> trailer = ReadLine(deadline());
          if (!trailer.ok()) {
            return trailer.status();
          }
          if (trailer->empty()) {
            return absl::OkStatus();
          }
        }
      }
      absl::Status passed = PassOn(size, deadline, sink);
      if (!passed.ok()) {
        return passed;
      }
      absl::StatusOr<std::string> crlf = ReadLine(deadline());
      if (!crlf.ok()) {
        return crlf.status();
      }
      if (!crlf->empty()) {
        return absl::DataLossError("the Docker engine sent a malformed chunk");
      }
    }
  }
  const std::string* cl = head.Header("content-length");
  if (cl != nullptr) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(*cl, &n)) {
      return absl::DataLossError("the Docker engine sent a malformed Content-Length");
    }
    return PassOn(n, deadline, sink);
  }
  // To the end of the stream.
  while (true) {
    if (pos_ < buffer_.size()) {
      absl::Status taken = sink(absl::string_view(buffer_).substr(pos_));
      pos_ = buffer_.size();
      if (!taken.ok()) {
        return taken;
      }
    }
    absl::Status filled = Fill(deadline());
    if (absl::IsOutOfRange(filled)) {
      return absl::OkStatus();
    }
    if (!filled.ok()) {
      return filled;
    }
  }
}

absl::StatusOr<std::string> HttpConnection::ReadBody(const HttpHead& head, size_t max_bytes,
                                                     absl::Time deadline) {
  std::string body;
  absl::Status read = ReadBodyTo(
      head, [deadline] { return deadline; },
      [&](absl::string_view piece) -> absl::Status {
        if (body.size() + piece.size() > max_bytes) {
          return absl::ResourceExhaustedError(
              absl::StrCat("the Docker engine's response is larger than ", max_bytes, " bytes"));
        }
        body.append(piece.data(), piece.size());
        return absl::OkStatus();
      });
  if (!read.ok()) {
    return read;
  }
  return body;
}

int HttpConnection::Release(std::string* buffered) {
  if (buffered != nullptr) {
    *buffered = buffer_.substr(pos_);
  }
  buffer_.clear();
  pos_ = 0;
  return std::exchange(fd_, -1);
}

void HttpConnection::Shutdown() {
  if (fd_ >= 0) {
    shutdown(fd_, SHUT_RDWR);
  }
}

absl::StatusOr<HttpResult> HttpRequest(const DockerEndpoint& endpoint, absl::string_view method,
                                       absl::string_view target, absl::string_view body,
                                       absl::Duration timeout, size_t max_bytes) {
  absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<HttpConnection> conn = HttpConnection::Open(endpoint, timeout);
  if (!conn.ok()) {
    return conn.status();
  }
  absl::Status sent = conn->SendRequest(method, target, body, /*upgrade=*/false, deadline);
  if (!sent.ok()) {
    return sent;
  }
  absl::StatusOr<HttpHead> head = conn->ReadHead(deadline);
  if (!head.ok()) {
    return head.status();
  }
  absl::StatusOr<std::string> content = conn->ReadBody(*head, max_bytes, deadline);
  if (!content.ok()) {
    return content.status();
  }
  return HttpResult{.status = head->status, .body = *std::move(content)};
}

std::string UrlEscape(absl::string_view s, absl::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~' ||
        keep.find(c) != absl::string_view::npos) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

}  // namespace mcpgw::container::internal
