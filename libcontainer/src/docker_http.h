// A tiny blocking HTTP/1.1 client for the Docker Engine API: one request per connection over a
// unix socket (or plain TCP), Content-Length and chunked bodies, bounded sizes, deadlines
// enforced with poll. Also the connection upgrade that turns the socket into a raw stream
// (`POST /containers/{id}/attach`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mcpgw::container::internal {

struct DockerEndpoint {
  // "unix:///var/run/docker.sock" or "tcp://host:port": for messages.
  std::string display;
  bool is_unix = true;
  std::string path;  // unix
  std::string host;  // tcp
  std::string port;  // tcp
};

// ParseDockerHost reads a DOCKER_HOST value. InvalidArgument for other schemes or a malformed
// address.
absl::StatusOr<DockerEndpoint> ParseDockerHost(absl::string_view host);

struct HttpHead {
  int status = 0;
  std::string reason;
  // Names lower-cased.
  std::vector<std::pair<std::string, std::string>> headers;

  const std::string* Header(absl::string_view lower_name) const;
};

// Thread-compatible, except Shutdown, which may be called from any thread to make a blocked
// call return.
class HttpConnection {
 public:
  // Open connects. Unavailable ("cannot reach the Docker engine at ...") when nothing listens,
  // PermissionDenied when the socket may not be used.
  static absl::StatusOr<HttpConnection> Open(const DockerEndpoint& endpoint,
                                             absl::Duration timeout);

  HttpConnection(HttpConnection&& other) noexcept;
  HttpConnection& operator=(HttpConnection&& other) noexcept;
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;
  ~HttpConnection();

  // SendRequest writes one request. `body` is sent as application/json when not empty.
  // `upgrade` adds `Connection: Upgrade` and `Upgrade: tcp`; otherwise `Connection: close`.
  absl::Status SendRequest(absl::string_view method, absl::string_view target,
                           absl::string_view body, bool upgrade, absl::Time deadline);
  // ReadHead reads the status line and headers (at most 64 KiB).
  absl::StatusOr<HttpHead> ReadHead(absl::Time deadline);
  // ReadBody reads the body that follows `head` (chunked, Content-Length, or to end of
  // stream), at most `max_bytes`.
  absl::StatusOr<std::string> ReadBody(const HttpHead& head, size_t max_bytes, absl::Time deadline);
  // ReadBodyTo passes the body that follows `head` to `sink` piece by piece as it arrives (a
  // pull's progress stream), each read bounded by `deadline()` (asked before every read, so a
  // deadline that slides with each piece bounds stalls rather than the whole body). Stops at
  // the first error `sink` returns.
  absl::Status ReadBodyTo(const HttpHead& head, absl::FunctionRef<absl::Time()> deadline,
                          absl::FunctionRef<absl::Status(absl::string_view)> sink);

  // Release hands the socket over (after an upgrade); `buffered` gets bytes already read past
  // the headers. The connection is then empty.
  int Release(std::string* buffered);
  int fd() const { return fd_; }
  // has_buffered is true when bytes already read wait to be consumed.
  bool has_buffered() const { return pos_ < buffer_.size(); }
  // Shutdown shuts the socket down in both directions (wakes a blocked reader).
  void Shutdown();

 private:
  HttpConnection(int fd, std::string display) : fd_(fd), display_(std::move(display)) {}
  // Fill reads more bytes into buffer_; OutOfRange at end of stream.
  absl::Status Fill(absl::Time deadline);
  absl::StatusOr<std::string> ReadLine(absl::Time deadline);
  // PassOn passes the next `n` body bytes to `sink` as they arrive.
  absl::Status PassOn(uint64_t n, absl::FunctionRef<absl::Time()> deadline,
                      absl::FunctionRef<absl::Status(absl::string_view)> sink);

  int fd_ = -1;
  std::string display_;
  std::string buffer_;
  size_t pos_ = 0;  // bytes of buffer_ consumed
};

// A whole request on a fresh connection.
struct HttpResult {
  int status = 0;
  std::string body;
};
absl::StatusOr<HttpResult> HttpRequest(const DockerEndpoint& endpoint, absl::string_view method,
                                       absl::string_view target, absl::string_view body,
                                       absl::Duration timeout, size_t max_bytes);

// UrlEscape percent-encodes everything but unreserved characters and those in `keep`.
std::string UrlEscape(absl::string_view s, absl::string_view keep = "");

}  // namespace mcpgw::container::internal
