// For process_runtime_test: starts `argv[1..]` through a ProcessRuntime, prints the child's
// process id on stdout, then waits until it is killed. The test kills this helper with SIGKILL
// and checks that the child dies too (PR_SET_PDEATHSIG).
#include <unistd.h>

#include <cstdio>

#include "mcpgw/container/process_runtime.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s COMMAND [ARG...]\n", argv[0]);
    return 2;
  }
  auto runtime = mcpgw::container::ProcessRuntime::Create({});
  if (!runtime.ok()) {
    std::fprintf(stderr, "%s\n", runtime.status().ToString().c_str());
    return 1;
  }
  mcpgw::container::RunSpec spec;
  spec.command = argv[1];
  spec.args.assign(argv + 2, argv + argc);
  auto instance = (*runtime)->Run(spec);
  if (!instance.ok()) {
    std::fprintf(stderr, "%s\n", instance.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", (*instance)->id().c_str());
  std::fflush(stdout);
  while (true) {
    pause();
  }
}
