#include "mcpgw/container/runtime.h"

#include <string.h>

#include "absl/strings/str_cat.h"

namespace mcpgw::container {

std::string ExitStatus::ToString() const {
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    return name != nullptr ? absl::StrCat("was killed by signal ", signal, " (SIG", name, ")")
                           : absl::StrCat("was killed by signal ", signal);
  }
  if (exit_code < 0) {
    return "ended, but its exit status is unknown";
  }
  return absl::StrCat("exited with code ", exit_code);
}

absl::Status ExitError(absl::string_view what, const ExitStatus& status,
                       absl::string_view stderr_tail) {
  std::string message = absl::StrCat(what, " ", status.ToString());
  // The shell's conventions, which npx/uvx wrappers follow too.
  if (status.signal == 0 && status.exit_code == 127) {
    absl::StrAppend(&message, " (a program it runs was not found)");
  } else if (status.signal == 0 && status.exit_code == 126) {
    absl::StrAppend(&message, " (a program it runs is not executable)");
  }
  if (stderr_tail.empty()) {
    absl::StrAppend(&message, " and wrote nothing to stderr");
  } else {
    absl::StrAppend(&message, "; the last lines it wrote to stderr:\n", stderr_tail);
  }
  return absl::UnavailableError(message);
}

}  // namespace mcpgw::container
