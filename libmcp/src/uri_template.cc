#include "mcpgw/mcp/uri_template.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace mcpgw::mcp {

absl::StatusOr<UriTemplate> UriTemplate::Parse(absl::string_view t) {
  UriTemplate out;
  out.text_ = std::string(t);
  size_t pos = 0;
  while (pos < t.size()) {
    size_t open = t.find('{', pos);
    if (open == absl::string_view::npos) {
      out.parts_.push_back({std::string(t.substr(pos)), false, false});
      break;
    }
    if (open > pos) {
      out.parts_.push_back({std::string(t.substr(pos, open - pos)), false, false});
    }
    size_t close = t.find('}', open);
    if (close == absl::string_view::npos || close == open + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("URI template '", t, "' has an unclosed or empty '{' at ", open));
    }
    absl::string_view name = t.substr(open + 1, close - open - 1);
    bool reserved = absl::ConsumePrefix(&name, "+");
    if (name.empty() || name.find_first_of("{,") != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "URI template '", t, "': only {name} and {+name} expressions are supported"));
    }
    out.parts_.push_back({std::string(name), true, reserved});
    pos = close + 1;
  }
  return out;
}

bool UriTemplate::Match(absl::string_view uri, std::map<std::string, std::string>* vars) const {
  std::map<std::string, std::string> local;
  // Backtracking over adjacent variables could take C(n, k) steps for a URI of n characters;
  // a template from a server must not be able to stall whoever matches it.
  size_t budget = kMaxMatchSteps;
  bool matched = MatchFrom(0, uri, vars != nullptr ? *vars : local, budget);
  return matched;
}

bool UriTemplate::MatchFrom(size_t index, absl::string_view uri,
                            std::map<std::string, std::string>& vars, size_t& budget) const {
  if (budget == 0) {
    return false;
  }
  --budget;
  if (index == parts_.size()) {
    return uri.empty();
  }
  const Part& part = parts_[index];
  if (!part.variable) {
    if (!absl::StartsWith(uri, part.text)) {
      return false;
    }
    return MatchFrom(index + 1, uri.substr(part.text.size()), vars, budget);
  }
  // A variable: try the longest match first, down to one character.
  size_t limit = uri.size();
  if (!part.reserved) {
    size_t slash = uri.find('/');
    limit = slash == absl::string_view::npos ? uri.size() : slash;
  }
  for (size_t n = limit; n >= 1; --n) {
    vars[part.text] = std::string(uri.substr(0, n));
    if (MatchFrom(index + 1, uri.substr(n), vars, budget)) {
      return true;
    }
  }
  vars.erase(part.text);
  return false;
}

}  // namespace mcpgw::mcp
