#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <thread>

#include "cli.h"

namespace {

// For `mcpgw run`: SIGINT, SIGTERM and SIGHUP are blocked in every thread (this runs before
// any other thread exists) and taken by one thread with sigwait: the first asks the gateway to
// stop its servers and return, a second one ends the process at once.
void HandleStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int seen = 0;
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) {
        continue;
      }
      if (++seen == 1) {
        mcpgw::cli::RequestStop();
      } else {
        _exit(128 + sig);
      }
    }
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
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
