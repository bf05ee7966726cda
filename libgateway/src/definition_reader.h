// Reading server definitions and run settings from YAML: shared by catalog files and by the
// servers a profile defines inline, so both accept exactly the same fields the same way.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mcpgw/gateway/catalog.h"
#include "yaml_reader.h"

namespace mcpgw::gateway::internal {

struct DefinitionOptions {
  // Only the built-in catalog may define `builtin:` servers.
  bool allow_builtin = false;
  // In a profile, `tools` (an allow-list) and `config` (values) mean something else and are
  // read by the profile; the definition then has no tool definitions and no config schema.
  bool in_profile = false;
};

// IsEnvName reports whether `name` is [A-Za-z_][A-Za-z0-9_]*.
bool IsEnvName(absl::string_view name);

// The keys of a catalog entry.
const std::vector<std::string>& DefinitionKeys();
// The keys that make a profile's server an inline definition, or that only such a server may
// have (a server taken from a catalog may not change what it runs).
const std::vector<std::string>& InlineOnlyKeys();

// CheckServerName fails at `key` unless `name` is a valid server name (the MCP name alphabet,
// since it prefixes tool names).
absl::Status CheckServerName(const YamlNode& key, absl::string_view name);

// Why a remote server cannot run per-call.
inline constexpr absl::string_view kRemotePerCallError =
    "a remote server has no instances to start per call: use on-demand (connect at the first "
    "need, disconnect when idle) or long-lived (stay connected)";

// CheckRemoteUrl checks the URL of a remote server: http:// or https://, a host and an
// optional port, no user:password, no #fragment, no placeholders. InvalidArgument saying what
// is wrong.
absl::Status CheckRemoteUrl(absl::string_view url);

// ReadDefinition reads the server named by `key` (the server's name, as a map key) from its
// entry. Unknown keys are the caller's to check (a profile entry has more).
absl::StatusOr<ServerDefinition> ReadDefinition(const YamlNode& key, const YamlMap& entry,
                                                const DefinitionOptions& options);

// ReadRunMap reads a map of run settings: mode, idle_timeout, per_call_concurrency, limits.
absl::Status ReadRunMap(const YamlNode& node, RunSettings& out);
// ReadRunFields reads the run-setting keys of `map` (which may hold other keys too).
absl::Status ReadRunFields(const YamlMap& map, RunSettings& out);
// The keys ReadRunFields reads.
const std::vector<std::string>& RunKeys();

// ReadEnv reads an env map (NAME: value) and checks names and placeholder syntax.
// `value_locations` receives "env.NAME" → where the value is.
absl::StatusOr<std::map<std::string, std::string>> ReadEnv(
    const YamlNode& node, std::map<std::string, SourceLocation>* value_locations);

// CheckEnvReferences checks that every {{secret.X}} in `env` names a secret of `definition`
// and, when the definition has a config schema with `properties`, that every {{config.K}}
// names one of them. `fail(name, message)` makes the located error for env var `name`.
absl::Status CheckEnvReferences(
    const std::map<std::string, std::string>& env, const ServerDefinition& definition,
    absl::FunctionRef<absl::Status(absl::string_view name, absl::string_view message)> fail);

// ReadArgv reads a command or an argument list: a list of strings, or one string split with
// shell quoting rules. Placeholders are refused (a command line shows in `ps`).
absl::StatusOr<std::vector<std::string>> ReadArgv(const YamlNode& node, absl::string_view what);

}  // namespace mcpgw::gateway::internal
