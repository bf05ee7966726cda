// Checks that a test leaves no process of its own running. A test binary that links
// tests/testing/no_process_left.cc becomes the reaper of orphaned descendants (so a process a
// child left behind is re-parented to it, not to init) and, after each test program run (each
// ctest case), fails on any child still there — zombies included — and kills it, and on any
// descriptor opened since the first test started and still open.
#pragma once

#include <sys/types.h>

#include <vector>

namespace mcpgw::testing {

// The process ids whose parent is this process (zombies included).
std::vector<pid_t> ChildrenOfThisProcess();

}  // namespace mcpgw::testing
