#include "mcpgw/gateway/naming.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace mcpgw::gateway {
namespace {

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

}  // namespace

absl::StatusOr<NamingPolicy> ParseNamingPolicy(absl::string_view s) {
  if (s == "prefix-on-conflict") {
    return NamingPolicy::kPrefixOnConflict;
  }
  if (s == "always-prefix") {
    return NamingPolicy::kAlwaysPrefix;
  }
  if (s == "never") {
    return NamingPolicy::kNever;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown naming policy '", s, "'; use prefix-on-conflict, always-prefix or never"));
}

absl::string_view ToString(NamingPolicy policy) {
  switch (policy) {
    case NamingPolicy::kPrefixOnConflict:
      return "prefix-on-conflict";
    case NamingPolicy::kAlwaysPrefix:
      return "always-prefix";
    case NamingPolicy::kNever:
      return "never";
  }
  return "unknown";
}

bool IsValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return false;
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return false;
    }
  }
  return true;
}

std::string SanitizeServerName(absl::string_view server) {
  std::string out;
  out.reserve(server.size());
  for (char c : server) {
    out.push_back(IsNameChar(c) ? c : '-');
  }
  return out;
}

absl::StatusOr<std::string> PrefixedName(absl::string_view server, absl::string_view name) {
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("server '", server, "' exposes the name '", name,
                     "', which is not 1-128 characters of A-Z a-z 0-9 _ . -"));
  }
  std::string prefixed = absl::StrCat(SanitizeServerName(server), kPrefixSeparator, name);
  if (!IsValidName(prefixed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", prefixed, "' (server '", server, "' + '", name, "') is longer than ",
                     kMaxNameLength, " characters; give the server a shorter name"));
  }
  return prefixed;
}

}  // namespace mcpgw::gateway
