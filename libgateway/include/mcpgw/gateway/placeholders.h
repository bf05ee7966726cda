// File: placeholders.h
//
// Placeholders in the values of a server's environment (and, later, of HTTP headers):
// `{{config.KEY}}` takes a value from the server's config (`KEY` may be a dotted path into
// nested objects), `{{secret.NAME}}` takes a secret the server declares. Blanks inside the
// braces are allowed (`{{ secret.token }}`). They are allowed nowhere else: a command line
// shows in `ps`, so a secret must never be expanded into one.
//
//   MCPGW_ASSIGN_OR_RETURN(
//       std::string value,
//       ExpandPlaceholders("Bearer {{secret.api_token}}", [&](const Placeholder& p) {
//         return secrets.Get(p.key);
//       }));
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mcpgw::gateway {

struct Placeholder {
  enum class Kind { kConfig, kSecret };
  Kind kind = Kind::kConfig;
  // "owner", "github.token", "paths.root": 1 or more dot-separated parts of [A-Za-z0-9_-].
  std::string key;
  // Where "{{" starts in the text, and the length up to and including "}}".
  size_t offset = 0;
  size_t length = 0;
};

// ParsePlaceholders returns every placeholder of `text`, in order. Every "{{" starts one.
// Returns InvalidArgument for a "{{" with no "}}", or one whose content is not `config.KEY` or
// `secret.NAME` (the message quotes it and says what is allowed).
absl::StatusOr<std::vector<Placeholder>> ParsePlaceholders(absl::string_view text);

// ContainsPlaceholder reports whether `text` holds something that reads as a config or secret
// placeholder, well-formed or not ("{{config.", "{{ secret."). Other "{{" (a Go template in an
// argument such as `--format={{json .}}`) does not count.
bool ContainsPlaceholder(absl::string_view text);

using PlaceholderResolver =
    absl::FunctionRef<absl::StatusOr<std::string>(const Placeholder& placeholder)>;

// ExpandPlaceholders replaces each placeholder of `text` by what `resolve` returns for it.
// Returns ParsePlaceholders' errors, or the first error of `resolve` unchanged.
absl::StatusOr<std::string> ExpandPlaceholders(absl::string_view text, PlaceholderResolver resolve);

// ToString gives the placeholder's canonical spelling, "{{config.owner}}".
std::string ToString(const Placeholder& placeholder);

}  // namespace mcpgw::gateway
