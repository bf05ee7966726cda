// File: shell_words.h
//
// Splits a command line into words the way a POSIX shell would, but runs no shell and expands
// nothing: no variables, no globs, no `~`, no command substitution. Used for `command:` given
// as one string in a catalog or profile and for `mcpgw run --command NAME='CMD ARGS...'`.
//
//   MCPGW_ASSIGN_OR_RETURN(std::vector<std::string> argv,
//                          SplitShellWords(R"(npx -y "@scope/server" --root '/my dir')"));
//   // {"npx", "-y", "@scope/server", "--root", "/my dir"}
//
// Rules: blanks (space, tab, newline) separate words; '...' keeps everything literally;
// "..." keeps everything except that a backslash escapes $ ` " \ and newline; an unquoted
// backslash escapes the next character; backslash-newline continues a line; '' and "" make an
// empty word. An unquoted | & ; < > ( ) is refused: it would mean a pipe, a redirection or a
// command list to a shell, and silently passing it as an argument would only confuse.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mcpgw::gateway {

// SplitShellWords returns the words of `line`. Returns InvalidArgument, naming the character
// position (1-based), for an unterminated quote, a trailing lone backslash, or an unquoted
// shell operator. An empty or all-blank line gives no words (not an error).
absl::StatusOr<std::vector<std::string>> SplitShellWords(absl::string_view line);

}  // namespace mcpgw::gateway
