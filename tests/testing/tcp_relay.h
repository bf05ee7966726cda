// A TCP relay for tests that must see what a client sends over the wire: it listens on
// 127.0.0.1 (port 0), forwards every connection to 127.0.0.1:<target port>, and records the
// bytes clients send. (Test only: one thread per connection, bounded by the test.)
//
//   TcpRelay relay(http_server->port());
//   ... a client talks to http://127.0.0.1:<relay.port()>/mcp ...
//   EXPECT_THAT(relay.Sent(), HasSubstr("Authorization: Bearer t"));
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace mcpgw::testing {

class TcpRelay {
 public:
  explicit TcpRelay(uint16_t target_port);
  // Stops accepting, closes every connection and joins the threads.
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  // The port it listens on; 0 if it could not listen.
  uint16_t port() const { return port_; }
  // Everything clients have sent so far, all connections appended.
  std::string Sent() const;
  int connections() const;

 private:
  void AcceptLoop();
  void Relay(int client, int server);

  uint16_t target_port_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::thread acceptor_;
  mutable absl::Mutex mu_;
  std::string sent_ ABSL_GUARDED_BY(mu_);
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> relays_ ABSL_GUARDED_BY(mu_);
};

// A port of 127.0.0.1 held for a test: bound but not listening (connections to it are
// refused), or listening but never accepting (the kernel completes connections, and what is
// sent is never read nor answered: a hung server).
class ReservedPort {
 public:
  enum class Mode { kRefuse, kHang };
  explicit ReservedPort(Mode mode);
  ~ReservedPort();
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace mcpgw::testing
