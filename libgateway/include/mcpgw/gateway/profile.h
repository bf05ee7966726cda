// File: profile.h
//
// A profile says which servers one gateway run exposes (from catalogs or defined inline),
// which of their tools, with what config, limits and run mode (the format is documented in
// docs/profile.md). It is a YAML file a team versions with its code. Resolving a profile loads
// its catalogs and yields the enabled servers, each fully resolved; BuildRunSpec then turns one
// into what the runtime starts, expanding env placeholders with config values and secrets.
//
//   MCPGW_ASSIGN_OR_RETURN(Profile profile, LoadProfileFile("mcpgw.yaml"));
//   MCPGW_ASSIGN_OR_RETURN(ResolvedProfile resolved,
//                          ResolveProfile(profile, {.servers = {"github"}}));
//   for (const ResolvedServer& server : resolved.servers) {
//     MCPGW_ASSIGN_OR_RETURN(container::RunSpec spec,
//                            BuildRunSpec(server, server.config, [&](absl::string_view name) {
//                              return store.Get(name);
//                            }));
//     ...
//   }
//
// Every function here is thread-safe (no shared state); the types are plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "mcpgw/container/runtime.h"
#include "mcpgw/gateway/catalog.h"
#include "mcpgw/gateway/naming.h"
#include "mcpgw/mcp/json.h"

namespace mcpgw::gateway {

// The profile's `gateway:` block: settings for the whole run and defaults for every server.
struct GatewaySettings {
  NamingPolicy naming = NamingPolicy::kPrefixOnConflict;
  RunMode mode = RunMode::kOnDemand;
  absl::Duration idle_timeout = absl::Minutes(5);
  // Most instances of one per-call server running at once.
  int per_call_concurrency = 4;
  // Container limits (0 = none). Defaults keep one runaway server from taking the machine.
  double cpus = 1;
  int64_t memory_bytes = int64_t{2} << 30;
  int64_t pids_limit = 512;
  // The network a server joins when its definition says it needs one; "none" gives no server
  // a network unless its profile entry grants one.
  std::string network = "bridge";
};

// A catalog the profile reads: "default", a user catalog's name, or a path (relative to the
// profile's directory).
struct CatalogRef {
  std::string ref;
  SourceLocation location;
};

// One entry of the profile's `servers:` map.
struct ProfileServer {
  std::string name;
  // A server from a catalog: the catalog entry's name (the server's own name unless `from:`
  // says otherwise). Empty for a server defined inline.
  std::string from;
  // A server defined inline (with image, command or remote).
  std::optional<ServerDefinition> definition;
  // Allow-list: only these tools are exposed; nullopt exposes all.
  std::optional<std::vector<std::string>> tools;
  // Config values (a JSON object), null when none were given.
  mcp::Json config;
  // Environment additions (may override the definition's; placeholders allowed).
  std::map<std::string, std::string> env;
  // Overrides of the run settings.
  RunSettings run;
  // Network override: true (the gateway's network, or "bridge" if that is "none"), false
  // (none), or the name of an engine network.
  std::optional<std::variant<bool, std::string>> network;
  // Where the entry starts, and where its fields are: "tools", "tools[1]", "config",
  // "env.NAME", "from".
  SourceLocation location;
  std::map<std::string, SourceLocation> field_locations;

  // Where returns the location of `field`, or of the entry when that field was not written.
  const SourceLocation& Where(absl::string_view field) const;
};

struct Profile {
  std::string name;
  std::string description;
  // The file it was read from, and the directory relative catalog paths resolve against.
  std::string source;
  std::string base_dir;
  // nullopt when the profile does not say: then `default` and every user catalog, in name order.
  std::optional<std::vector<CatalogRef>> catalogs;
  // In the order written.
  std::vector<ProfileServer> servers;
  GatewaySettings gateway;

  const ProfileServer* Find(absl::string_view server_name) const;
};

// ParseProfile reads a profile from YAML `text`. `source_name` names it in errors;
// `base_dir` is where relative catalog paths point (the file's directory). `name` defaults
// to the stem of `source_name`. Returns InvalidArgument, "file:line:column: field.path: what is
// wrong", for every mistake the format allows to be found without the catalogs (see
// ParseCatalog; also a bad naming policy, network, allow-list or config values).
absl::StatusOr<Profile> ParseProfile(absl::string_view text, absl::string_view source_name,
                                     absl::string_view base_dir = ".");

// LoadProfileFile reads and parses the profile file `path`. NotFound when it does not exist,
// the errno status when it cannot be read, else ParseProfile's errors.
absl::StatusOr<Profile> LoadProfileFile(absl::string_view path);

// The effective settings of one server: its profile overrides, else its catalog hints, else
// the gateway's defaults.
struct ServerSettings {
  RunMode mode = RunMode::kOnDemand;
  absl::Duration idle_timeout = absl::Minutes(5);
  int per_call_concurrency = 4;
  double cpus = 0;
  int64_t memory_bytes = 0;
  int64_t pids_limit = 0;
  // "none" or an engine network name.
  std::string network = "none";
};

// A server ready to run: what it is, how it runs, and what of it is exposed.
struct ResolvedServer {
  std::string name;
  // Where it comes from, for messages: "catalog 'default'", "mcpgw.yaml" (inline),
  // "--command".
  std::string origin;
  // The definition, with the profile's env additions merged into `env`.
  ServerDefinition definition;
  ServerSettings settings;
  // Allow-list (after narrowing); nullopt exposes every tool.
  std::optional<std::vector<std::string>> allowed_tools;
  // Config values given in the profile (null when none); BuildRunSpec applies the schema's
  // defaults.
  mcp::Json config;
};

struct ResolvedProfile {
  std::string name;
  GatewaySettings gateway;
  // The enabled servers, in the profile's order.
  std::vector<ResolvedServer> servers;
};

struct ResolveOptions {
  // `--servers a,b`: run only these (empty: all the profile's servers).
  std::vector<std::string> servers;
  // `--tools server:tool,...`: expose only these tools of the servers named; with no
  // `--servers`, also run only the servers named. `server:*` keeps all of a server's tools.
  std::vector<std::string> tools;
  // Where user catalogs are; empty: DefaultConfigDir().
  std::string config_dir;
};

// ResolveProfile loads the profile's catalogs, resolves every server (catalog entries later
// in the `catalogs:` list win over earlier ones), checks allow-lists against the catalog's
// tool definitions and config values against the config schema, computes the effective
// settings, and applies the narrowing options. Errors: the catalogs' load errors; NotFound
// for a catalog or server that does not exist (listing what does); InvalidArgument naming the
// profile's file, line and field for values that do not fit the definition, and for a
// narrowing flag that names an unknown server or tool (listing what exists).
absl::StatusOr<ResolvedProfile> ResolveProfile(const Profile& profile,
                                               const ResolveOptions& options = {});

// ApplyNarrowing applies `--servers` and `--tools` (see ResolveOptions) to `servers`.
// NotFound naming the unknown server or tool and listing the known ones; InvalidArgument for
// a malformed `server:tool`.
absl::Status ApplyNarrowing(std::vector<ResolvedServer>& servers,
                            const std::vector<std::string>& server_names,
                            const std::vector<std::string>& tools);

// ParseAdHocFlag splits the value of `mcpgw run --command NAME='CMD ARGS...'` at the first
// '=' into the name and the command line. InvalidArgument when there is no name.
absl::StatusOr<std::pair<std::string, std::string>> ParseAdHocFlag(absl::string_view value);

// AdHocServer makes a local-process server from a command line (split like a POSIX shell
// would, see shell_words.h, but no shell runs). It gets PATH, HOME and LANG from the gateway's
// environment plus `env`, whose values may use {{secret.NAME}} (the secret is then declared
// for it, so a secret never needs to be on the gateway's own command line) but not
// {{config.*}}. InvalidArgument for a bad name, an empty or unsplittable command line, or a
// bad env name or value.
absl::StatusOr<ResolvedServer> AdHocServer(absl::string_view name, absl::string_view command_line,
                                           const std::map<std::string, std::string>& env,
                                           const GatewaySettings& gateway = {});

// Looks up a secret's value by name (a SecretStore does). NotFound when it is not set.
using SecretLookup = absl::FunctionRef<absl::StatusOr<std::string>(absl::string_view secret_name)>;

// The label every instance of a server carries: io.mcpgw.server=<server name>.
inline constexpr absl::string_view kServerLabel = "io.mcpgw.server";

// BuildRunSpec turns `server` into what a Runtime starts. `config` holds its config values
// (normally `server.config`): the schema's defaults are applied, the result is validated
// against the schema, and env values and volume sources are expanded. Secrets are looked up
// (only those the server declares, each once) and reach only `env`, never the command line.
// A container gets the server's network ("none" unless it needs one), limits and volumes; a
// local process gets PATH, HOME and LANG. Errors name the server and the key, never a value:
// InvalidArgument for config values the schema refuses, a missing config key, a volume source
// that is neither an absolute path nor a volume name; NotFound for a secret that is not set
// (saying how to set it); the lookup's own error otherwise; FailedPrecondition for a built-in
// server (it runs inside the gateway) or a remote one (BuildRemoteConnection below).
absl::StatusOr<container::RunSpec> BuildRunSpec(const ResolvedServer& server,
                                                const mcp::Json& config, SecretLookup secrets);

// What the gateway needs to connect to a remote server, placeholders expanded.
struct RemoteConnection {
  std::string url;
  RemoteTransport transport = RemoteTransport::kAuto;
  // In the order written, values expanded (they may hold secrets: never log them).
  std::vector<std::pair<std::string, std::string>> headers;
};

// BuildRemoteConnection is BuildRunSpec for a remote server (`remote:`): `config`'s defaults
// are applied and checked, and the headers' placeholders expanded, secrets exactly as for env
// values (only those the server declares, each looked up once). Errors name the server and
// the header, never a value: NotFound for a secret that is not set (saying how to set it);
// InvalidArgument for a bad URL, config values the schema refuses, a missing config key, a
// secret that would go over plain http:// to a host that is not loopback, or a value that
// expands to a line break or control character; FailedPrecondition for a server that is not
// remote. The headers come only from the definition: nothing of a downstream client's
// request (its Authorization above all) is ever sent to a remote server.
absl::StatusOr<RemoteConnection> BuildRemoteConnection(const ResolvedServer& server,
                                                       const mcp::Json& config,
                                                       SecretLookup secrets);

}  // namespace mcpgw::gateway
