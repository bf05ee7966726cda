#include "testing/tcp_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace mcpgw::testing {
namespace {

// Listen on 127.0.0.1 at a free port; returns the fd and sets `port`.
int Listen(uint16_t& port, bool listen_now = true) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      (listen_now && listen(fd, 64) != 0) ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  port = ntohs(addr.sin_port);
  return fd;
}

int ConnectTo(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

TcpRelay::TcpRelay(uint16_t target_port) : target_port_(target_port) {
  listen_fd_ = Listen(port_);
  if (listen_fd_ < 0 || pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    port_ = 0;
    return;
  }
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TcpRelay::~TcpRelay() {
  if (stop_pipe_[1] >= 0) {
    char c = 0;
    (void)!write(stop_pipe_[1], &c, 1);
  }
  if (acceptor_.joinable()) {
    acceptor_.join();
  }
  std::vector<std::thread> relays;
  {
    absl::MutexLock lock(&mu_);
    relays.swap(relays_);
  }
  for (std::thread& t : relays) {
    t.join();
  }
  for (int fd : {listen_fd_, stop_pipe_[0], stop_pipe_[1]}) {
    if (fd >= 0) {
      close(fd);
    }
  }
}

std::string TcpRelay::Sent() const {
  absl::MutexLock lock(&mu_);
  return sent_;
}

int TcpRelay::connections() const {
  absl::MutexLock lock(&mu_);
  return connections_;
}

void TcpRelay::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      continue;
    }
    int server = ConnectTo(target_port_);
    if (server < 0) {
      close(client);
      continue;
    }
    absl::MutexLock lock(&mu_);
    ++connections_;
    relays_.emplace_back([this, client, server] { Relay(client, server); });
  }
}

void TcpRelay::Relay(int client, int server) {
  char buf[16384];
  bool open[2] = {true, true};  // client → server, server → client
  while (open[0] || open[1]) {
    pollfd fds[3] = {{open[0] ? client : -1, POLLIN, 0},
                     {open[1] ? server : -1, POLLIN, 0},
                     {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    if (fds[2].revents != 0) {
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      int from = i == 0 ? client : server;
      int to = i == 0 ? server : client;
      ssize_t n = read(from, buf, sizeof buf);
      if (n <= 0) {
        open[i] = false;
        shutdown(to, SHUT_WR);
        continue;
      }
      if (i == 0) {
        absl::MutexLock lock(&mu_);
        sent_.append(buf, static_cast<size_t>(n));
      }
      if (!WriteAll(to, buf, static_cast<size_t>(n))) {
        open[0] = open[1] = false;
      }
    }
  }
  close(client);
  close(server);
}

ReservedPort::ReservedPort(Mode mode) { fd_ = Listen(port_, mode == Mode::kHang); }

ReservedPort::~ReservedPort() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

}  // namespace mcpgw::testing
