// File: naming.h
//
// Names the gateway exposes for the tools and prompts of many servers. MCP (2025-11-25)
// asks for names of 1 to 128 characters from [A-Za-z0-9_.-]; names the gateway makes by
// prefixing a tool with its server's name must stay inside that alphabet too.
//
//   MCPGW_ASSIGN_OR_RETURN(std::string name, PrefixedName("github", "list_issues"));
//   // "github__list_issues"
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mcpgw::gateway {

inline constexpr size_t kMaxNameLength = 128;
inline constexpr absl::string_view kPrefixSeparator = "__";

// How exposed names are made when servers are aggregated.
enum class NamingPolicy {
  kPrefixOnConflict,  // a server's own names unless two servers share one
  kAlwaysPrefix,      // always "<server>__<name>"
  kNever,             // never prefix; on a conflict the later item is hidden (with a warning)
};

absl::StatusOr<NamingPolicy> ParseNamingPolicy(absl::string_view s);
absl::string_view ToString(NamingPolicy policy);

// IsValidName reports whether `name` is 1-128 characters of [A-Za-z0-9_.-].
bool IsValidName(absl::string_view name);

// SanitizeServerName maps a server name onto the name alphabet (other characters become
// '-'), so that it can prefix tool names.
std::string SanitizeServerName(absl::string_view server);

// PrefixedName returns "<server>__<name>". Returns InvalidArgument when the result would not
// be a valid name (too long, or `name` itself invalid), naming both parts.
absl::StatusOr<std::string> PrefixedName(absl::string_view server, absl::string_view name);

}  // namespace mcpgw::gateway
