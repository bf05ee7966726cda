// For instance_test: a gateway instance in a process of its own. Acquires a GatewayInstance in
// the directory argv[1] (and marks it as using containers when argv[2] is "containers"), prints
// its id on stdout, then holds it until stdin ends, when it exits normally (removing its lock
// file) — unless the test kills it first.
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "mcpgw/gateway/instance.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [containers]\n", argv[0]);
    return 2;
  }
  auto self = mcpgw::gateway::GatewayInstance::Acquire(argv[1]);
  if (!self.ok()) {
    std::fprintf(stderr, "%s\n", self.status().ToString().c_str());
    return 1;
  }
  if (argc > 2 && std::strcmp(argv[2], "containers") == 0) {
    if (absl::Status marked = (*self)->MarkUsesContainers(); !marked.ok()) {
      std::fprintf(stderr, "%s\n", marked.ToString().c_str());
      return 1;
    }
  }
  std::printf("%s\n", (*self)->id().c_str());
  std::fflush(stdout);
  char buf[64];
  while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
  }
  return 0;
}
