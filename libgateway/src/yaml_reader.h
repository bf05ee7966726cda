// Reading YAML (yaml-cpp) with errors that name the file, line, column and field path.
//
// yaml-cpp throws; every call into it that can throw is inside this file's functions or inside
// a `CatchYaml` wrapper, so no exception leaves the library. It also accepts duplicate map keys
// silently (keeping both); YamlMap refuses them.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mcpgw/gateway/catalog.h"
#include "mcpgw/mcp/json.h"

namespace mcpgw::gateway::internal {

// LocatedError is InvalidArgument "file:line:column: path: message" (parts that are empty are
// left out).
absl::Status LocatedError(const SourceLocation& where, absl::string_view path,
                          absl::string_view message);

// DidYouMean returns "; did you mean 'x'?" for the candidate closest to `given` when it is a
// near miss (a small edit distance), else "".
std::string DidYouMean(absl::string_view given, const std::vector<std::string>& candidates);

// JoinPath appends a map key to a field path: JoinPath("servers", "fetch") = "servers.fetch".
std::string JoinPath(absl::string_view path, absl::string_view key);

// A YAML node with the field path that leads to it and the file it came from.
class YamlNode {
 public:
  YamlNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path,
           SourceLocation fallback);

  const YAML::Node& raw() const { return node_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return *file_; }
  // Where the node starts (for an empty value: where its key is).
  SourceLocation location() const;
  // Error at this node: "file:line:col: path: message".
  absl::Status Error(absl::string_view message) const;

  bool is_null() const;
  bool is_map() const;
  bool is_list() const;
  bool is_scalar() const;
  // Describe names what the node is for "expected X, got <Describe>": "a map", "a list",
  // "nothing", "the string 'abc'", "the number 3", "true".
  std::string Describe() const;

  // Readers: each returns Error("expected <what>, got <Describe()>") on a mismatch.
  // String accepts any scalar (a plain 3 reads as "3").
  absl::StatusOr<std::string> String(absl::string_view what = "a string") const;
  // A non-empty string.
  absl::StatusOr<std::string> NonEmptyString(absl::string_view what = "a string") const;
  // Bool accepts true/false (also True, TRUE, False, FALSE), as YAML 1.2 does.
  absl::StatusOr<bool> Bool() const;
  absl::StatusOr<int64_t> Int(absl::string_view what = "an integer") const;
  absl::StatusOr<double> Number(absl::string_view what = "a number") const;
  // Items returns the items of a list.
  absl::StatusOr<std::vector<YamlNode>> Items(absl::string_view what = "a list") const;
  // StringList returns a list of scalars (`what`: "a list of tool names").
  absl::StatusOr<std::vector<std::string>> StringList(absl::string_view what) const;
  // ToJson converts the node to JSON, resolving plain scalars as YAML 1.2's core schema does
  // (null, true/false, integers, floats; the rest are strings; quoted scalars are strings).
  // The work is bounded: a document that expands aliases into a huge tree is refused.
  absl::StatusOr<mcp::Json> ToJson() const;

  // Child makes the node for a map value or list item under this one.
  YamlNode Child(YAML::Node child, std::string child_path, SourceLocation fallback) const;

 private:
  absl::Status Expected(absl::string_view what) const;

  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
  SourceLocation fallback_;
};

// A map's entries, in order, with every key a scalar and none repeated.
class YamlMap {
 public:
  struct Entry {
    std::string key;
    YamlNode key_node;
    YamlNode value;
  };

  // Read reads `node` as a map. An empty value (`fetch:`) reads as an empty map when
  // `null_is_empty`. Errors: not a map ("expected <what>, got a list"), a key that is not a
  // scalar, a duplicate key (naming the line of the first).
  static absl::StatusOr<YamlMap> Read(const YamlNode& node, absl::string_view what = "a map",
                                      bool null_is_empty = false);

  const YamlNode& node() const { return node_; }
  const std::vector<Entry>& entries() const { return entries_; }
  // Find returns the value of `key`, or nullptr.
  const YamlNode* Find(absl::string_view key) const;
  // FindEntry returns the entry of `key`, or nullptr.
  const Entry* FindEntry(absl::string_view key) const;
  // CheckKeys fails at the first key not in `allowed`: "path.key: unknown key; did you mean
  // 'x'?" or "...; expected one of: a, b, c".
  absl::Status CheckKeys(const std::vector<std::string>& allowed) const;

 private:
  explicit YamlMap(YamlNode node) : node_(std::move(node)) {}

  YamlNode node_;
  std::vector<Entry> entries_;
};

// ParseYaml parses `text` as exactly one YAML document. `file` names it in errors. An empty
// document reads as a null node. Errors: yaml-cpp's syntax errors with their location, more
// than one document.
absl::StatusOr<YamlNode> ParseYaml(absl::string_view text, absl::string_view file);

// CatchYaml runs `body`, turning an exception yaml-cpp throws into an Internal error (the
// readers above do not let yaml-cpp throw on well-formed trees; this is the backstop that
// keeps exceptions inside the library).
absl::Status CatchYaml(absl::string_view file, absl::FunctionRef<absl::Status()> body);

// CheckVersion reads the top-level `version`: it must be the integer 1. `what` is "catalog" or
// "profile".
absl::Status CheckVersion(const YamlMap& top, absl::string_view what);

// ReadFileToString reads a whole (small) file. NotFound naming `path` when it does not exist;
// InvalidArgument when it is larger than 16 MiB; else the errno status.
absl::StatusOr<std::string> ReadFileToString(absl::string_view path);

}  // namespace mcpgw::gateway::internal
