// File: uri_template.h
//
// Resource URI templates (RFC 6570), the subset MCP servers use: literal text with `{name}`
// (a value without '/') and `{+name}` (reserved expansion: may contain '/') expressions. A
// server matches a `resources/read` URI against its templates; a gateway routes a URI to the
// server whose template matches it.
//
//   MCPGW_ASSIGN_OR_RETURN(UriTemplate t, UriTemplate::Parse("file:///{+path}"));
//   std::map<std::string, std::string> vars;
//   if (t.Match("file:///etc/hosts", &vars)) { ... vars["path"] == "etc/hosts" ... }
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mcpgw::mcp {

// Thread-compatible; immutable after Parse.
class UriTemplate {
 public:
  // Parse accepts literal text with {name} and {+name}; InvalidArgument for an unclosed or
  // empty expression, or one of the other operators and lists ({?x}, {a,b}), quoting `text`.
  static absl::StatusOr<UriTemplate> Parse(absl::string_view text);

  // Match reports whether `uri` is an expansion of the template and fills `vars` (when not
  // null) with the value of each variable. The longest match is tried first. Bounded: after
  // kMaxMatchSteps steps of backtracking (adjacent variables), it gives up (no match).
  bool Match(absl::string_view uri, std::map<std::string, std::string>* vars = nullptr) const;

  const std::string& text() const { return text_; }

  static constexpr size_t kMaxMatchSteps = 100000;

 private:
  struct Part {
    std::string text;  // literal, or the variable name
    bool variable = false;
    bool reserved = false;  // {+name}: may match '/'
  };
  bool MatchFrom(size_t index, absl::string_view uri, std::map<std::string, std::string>& vars,
                 size_t& budget) const;

  std::string text_;
  std::vector<Part> parts_;
};

}  // namespace mcpgw::mcp
