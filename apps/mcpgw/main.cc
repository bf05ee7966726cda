#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "cli.h"

namespace {

// For `mcpgw run`: SIGINT, SIGTERM and SIGHUP write their number to a pipe (a handler may run
// on any thread, and only async-signal-safe calls are allowed in it); one thread reads the
// pipe: the first signal asks the gateway to stop its servers and return, a second one (more
// than a second later) ends the process at once. (Blocking the signals instead would miss threads that exist before
// main, such as a sanitizer's.)
int stop_pipe[2] = {-1, -1};

void OnStopSignal(int sig) {
  char c = static_cast<char>(sig);
  ssize_t ignored = write(stop_pipe[1], &c, 1);
  (void)ignored;
}

void HandleStopSignals() {
  if (pipe2(stop_pipe, O_CLOEXEC) != 0) {
    return;  // no clean stop then; the default actions still end the process
  }
  std::thread([] {
    int seen = 0;
    char c = 0;
    std::chrono::steady_clock::time_point first;
    while (true) {
      ssize_t n = read(stop_pipe[0], &c, 1);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return;
      }
      auto now = std::chrono::steady_clock::now();
      if (++seen == 1) {
        first = now;
        mcpgw::cli::RequestStop();
      } else if (now - first > std::chrono::seconds(1)) {
        _exit(128 + c);
      }
      // A second signal within a second is the same request: `timeout`, `kill -- -PGID` and a
      // terminal deliver one signal to the process and again to its process group.
    }
  }).detach();
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    sigaction(sig, &action, nullptr);
  }
}

}  // namespace

int main(int argc, char** argv) {
#ifdef NDEBUG
  // Abseil's mutex deadlock detection (on in Debian's build of it) updates a process-wide lock
  // graph on every lock; the debug and sanitizer builds, where the tests run, keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  bool run = argc > 1 && std::strcmp(argv[1], "run") == 0;
  if (run) {
    HandleStopSignals();
  }
  int rc = mcpgw::cli::RunCli(argc, argv, std::cin, std::cout, std::cerr);
  if (run) {
    // Worker threads of the libraries' shared pools may still exist: leave without running
    // static destructors under them (everything the gateway started is already stopped).
    std::cout.flush();
    std::cerr.flush();
    _exit(rc);
  }
  return rc;
}
