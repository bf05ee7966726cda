// File: catalog.h
//
// A catalog is a named set of ready-to-run MCP server definitions, read from YAML (the format
// is documented in docs/catalog.md). One catalog, `default`, is compiled into the library; user
// catalogs live in `$XDG_CONFIG_HOME/mcpgw/catalogs/<name>.yaml`; a profile may name more by
// path. Loading validates everything and reports each mistake with its file, line, column and
// field path:
//
//   team.yaml:12:5: servers.github.tools: expected a list of tool definitions, got a map
//
//   MCPGW_ASSIGN_OR_RETURN(Catalog catalog, LoadCatalogFile("team-catalog.yaml"));
//   if (const ServerDefinition* fetch = catalog.Find("fetch")) {
//     spdlog::info("{}: {}", fetch->name, fetch->image);
//   }
//
// Every function here is thread-safe (no shared state); the types are plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "mcpgw/mcp/types.h"

namespace mcpgw::gateway {

// Where something was written: "team.yaml:12:5". `line` and `column` are 1-based; 0 when not
// known (a definition made in code).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;

  // ToString reads "file:line:column", "file" without a line, "" for nothing.
  std::string ToString() const;
};

// How a server's instances live (docs/profile.md, "Run modes").
enum class RunMode {
  kOnDemand,   // started by the first need, stopped after an idle timeout (the default)
  kLongLived,  // started with the gateway, kept running
  kPerCall,    // a fresh instance for each tools/call
};

// ParseRunMode reads "on-demand", "long-lived" or "per-call". InvalidArgument otherwise.
absl::StatusOr<RunMode> ParseRunMode(absl::string_view s);
absl::string_view ToString(RunMode mode);

// Run settings that may be given at several levels (a catalog entry's hints, a profile's
// per-server overrides); an unset field falls through to the next level.
struct RunSettings {
  std::optional<RunMode> mode;
  std::optional<absl::Duration> idle_timeout;
  std::optional<int> per_call_concurrency;
  std::optional<double> cpus;           // cores; 0 = no limit
  std::optional<int64_t> memory_bytes;  // 0 = no limit
  std::optional<int64_t> pids_limit;    // 0 = the engine's default

  friend bool operator==(const RunSettings&, const RunSettings&) = default;
};

// A secret a server needs. Its value comes from the secret store at start and reaches only
// this server's environment (a remote server's: the headers sent to it).
struct SecretSpec {
  // The name in the secret store ("github.token"); `{{secret.<name>}}` in env (or a remote
  // server's headers) refers to it.
  std::string name;
  // The environment variable it becomes; empty when it is used only through placeholders
  // (always, for a remote server).
  std::string env;
  // Where a user gets it ("a fine-grained token from https://github.com/settings/tokens").
  std::string how;

  friend bool operator==(const SecretSpec&, const SecretSpec&) = default;
};

// A host path or engine volume mounted into a server's container, written
// "source:target[:ro|:rw]". `source` may hold `{{config.KEY}}` placeholders.
struct VolumeSpec {
  std::string source;
  std::string target;
  bool read_only = false;

  friend bool operator==(const VolumeSpec&, const VolumeSpec&) = default;
};

// How the gateway talks to a remote server (the `transport:` of a `remote:` entry).
enum class RemoteTransport {
  kAuto,        // Streamable HTTP, falling back to the legacy HTTP+SSE transport ("auto")
  kStreamable,  // Streamable HTTP only ("streamable", or "http")
  kSse,         // the legacy HTTP+SSE transport of 2024-11-05 only ("sse")
};

// ParseRemoteTransport reads "auto", "streamable", "http" or "sse". InvalidArgument otherwise.
absl::StatusOr<RemoteTransport> ParseRemoteTransport(absl::string_view s);
absl::string_view ToString(RemoteTransport transport);

// A server the gateway reaches over HTTP instead of running it (`remote:`).
struct RemoteSpec {
  // http:// or https://, with no user:password part and no placeholders.
  std::string url;
  RemoteTransport transport = RemoteTransport::kAuto;
  // Sent with every request, in the order written: name → value. Values may hold
  // {{config.*}} and {{secret.*}} placeholders (expanded when the gateway connects). Names
  // are unique regardless of case.
  std::vector<std::pair<std::string, std::string>> headers;

  friend bool operator==(const RemoteSpec&, const RemoteSpec&) = default;
};

// IsLoopbackUrl reports whether the host of `url` (http:// or https://) is a loopback name or
// address: localhost (and *.localhost), 127.0.0.0/8, [::1].
bool IsLoopbackUrl(absl::string_view url);

// One MCP server: what to run and what it needs.
struct ServerDefinition {
  enum class Kind {
    kImage,    // a container image
    kCommand,  // a local program
    kBuiltin,  // served inside the gateway (only the built-in catalog defines these)
    kRemote,   // reached over HTTP, run by someone else
  };

  std::string name;
  std::string title;
  std::string description;
  Kind kind = Kind::kImage;
  // kImage: "mcp/fetch", "mcp/fetch:1.2", "ghcr.io/o/s@sha256:<64 hex>".
  std::string image;
  // kCommand: argv, program first (never empty for kCommand).
  std::vector<std::string> command;
  // Arguments after the command (kCommand) or replacing the image's CMD (kImage).
  std::vector<std::string> args;
  // kBuiltin: which built-in server.
  std::string builtin;
  // kRemote: where it is and which headers it gets.
  RemoteSpec remote;
  // Environment: NAME → value, which may hold {{config.*}} and {{secret.*}} placeholders.
  std::map<std::string, std::string> env;
  std::vector<SecretSpec> secrets;
  // JSON Schema (as JSON text) of the config a user gives in a profile; empty: none.
  std::string config_schema;
  // Whether the server needs a network (default: it runs with none).
  bool network = false;
  std::vector<VolumeSpec> volumes;
  // Full tool definitions, to answer listings before the server starts; nullopt when the
  // catalog does not give them.
  std::optional<std::vector<mcp::Tool>> tools;
  RunSettings run;
  // Where the definition was written.
  SourceLocation location;

  // FindSecret returns the declared secret `name`, or nullptr.
  const SecretSpec* FindSecret(absl::string_view secret_name) const;
};

// A named set of server definitions.
struct Catalog {
  // "default" for the built-in one, else the file's stem ("team" for team.yaml).
  std::string name;
  std::string description;
  // The file it was read from (or "<built-in catalog>").
  std::string source;
  // In the order written.
  std::vector<ServerDefinition> servers;

  // Find returns the definition `server_name`, or nullptr.
  const ServerDefinition* Find(absl::string_view server_name) const;
  // Names returns the servers' names, in the order written.
  std::vector<std::string> Names() const;
};

// The source name of the built-in catalog in error messages.
inline constexpr absl::string_view kBuiltinCatalogSource = "<built-in catalog>";
inline constexpr absl::string_view kDefaultCatalogName = "default";

// ParseCatalog reads a catalog from YAML `text`; `source_name` names it in errors (a path).
// `catalog_name` defaults to the stem of `source_name`. Returns InvalidArgument,
// "file:line:column: field.path: what is wrong", for malformed YAML, a missing or unsupported
// `version`, an unknown key (with a suggestion for a near miss), a duplicate key, a value of
// the wrong kind, a placeholder outside env values, an undeclared secret in a placeholder, a
// malformed image reference, command, volume, duration, size, JSON Schema or tool definition,
// and for a `remote:` entry whose URL is not http(s), whose header is malformed, or that
// sends a secret over plain http:// to a host that is not loopback.
absl::StatusOr<Catalog> ParseCatalog(absl::string_view text, absl::string_view source_name,
                                     absl::string_view catalog_name = "");

// LoadCatalogFile reads and parses the catalog file `path`. NotFound when it does not exist,
// the errno status when it cannot be read, else ParseCatalog's errors.
absl::StatusOr<Catalog> LoadCatalogFile(absl::string_view path);

// BuiltinCatalogYaml is the text of the built-in catalog.
absl::string_view BuiltinCatalogYaml();
// DefaultCatalog parses the built-in catalog (a test makes sure it parses).
absl::StatusOr<Catalog> DefaultCatalog();

// DefaultConfigDir is `$XDG_CONFIG_HOME/mcpgw`, or `$HOME/.config/mcpgw` when XDG_CONFIG_HOME
// is unset or empty (or not absolute, as the XDG spec says to ignore it then).
std::string DefaultConfigDir();

// ListUserCatalogs returns the names of the user catalogs in `<config_dir>/catalogs/*.yaml`,
// sorted; none when the directory does not exist. InvalidArgument for a file named
// default.yaml (that name is the built-in catalog's).
absl::StatusOr<std::vector<std::string>> ListUserCatalogs(absl::string_view config_dir);

// LoadUserCatalog loads `<config_dir>/catalogs/<name>.yaml`. NotFound (listing the user
// catalogs that exist) when there is none, else LoadCatalogFile's errors.
absl::StatusOr<Catalog> LoadUserCatalog(absl::string_view config_dir, absl::string_view name);

// ParseMemorySize reads a size as Docker writes it: bytes ("1048576"), or a number with a
// binary unit b, k, m, g, t (case-insensitive, an optional trailing "b"/"ib": "512m", "2g",
// "1.5GiB"). "0" means no limit. InvalidArgument otherwise, or when it is below Docker's minimum
// of 6 MiB.
absl::StatusOr<int64_t> ParseMemorySize(absl::string_view s);

// ParseIdleTimeout reads a positive duration with units ("30s", "5m", "1h30m").
absl::StatusOr<absl::Duration> ParseIdleTimeout(absl::string_view s);

// ValidateImageReference checks "[registry[:port]/]path[:tag][@sha256:<64 hex>]".
// InvalidArgument saying what is wrong.
absl::Status ValidateImageReference(absl::string_view image);

}  // namespace mcpgw::gateway
