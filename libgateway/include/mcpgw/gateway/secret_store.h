// File: secret_store.h
//
// Where the gateway finds the secrets its servers declare (API tokens, passwords), and how it
// keeps their values out of everything it prints. A `SecretStore` asks an ordered list of
// providers; the first that has a secret wins:
//
//   1. EnvSecretProvider        MCPGW_SECRET_<NAME> environment variables
//   2. DirectorySecretProvider  $MCPGW_SECRETS_DIR (when set), then /run/secrets (when it
//                               exists: compose and swarm mount secrets there), one file each
//   3. FileSecretProvider       $XDG_CONFIG_HOME/mcpgw/secrets.yaml (~/.config/mcpgw/...),
//                               mode 0600, the one `mcpgw secret set` writes
//
// Secret values never go into a log line or a status message built here; a `Redactor` masks
// known values in text that comes from elsewhere (a server's stderr, its error messages).
// docs/secrets.md describes the providers, the file format and the guarantees for users.
//
//   MCPGW_ASSIGN_OR_RETURN(SecretStore store, SecretStore::Default());
//   MCPGW_RETURN_IF_ERROR(store.Set("github.token", token).status());
//   MCPGW_ASSIGN_OR_RETURN(std::string value,
//                          store.Require("github.token", {.server = "github",
//                                                         .env_var = "GITHUB_TOKEN"}));
//   Redactor redactor;
//   redactor.Add(value);
//   spdlog::warn("github: {}", redactor.Redact(stderr_tail));
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace mcpgw::gateway {

// ---- names and values -------------------------------------------------------------------

inline constexpr size_t kMaxSecretNameLength = 128;
// A bound on a value: it has to fit an environment variable (Linux caps one at 128 KiB) and
// stays far below that so that a wrong file piped to `secret set` is caught.
inline constexpr size_t kMaxSecretValueBytes = 64 * 1024;
inline constexpr absl::string_view kSecretEnvPrefix = "MCPGW_SECRET_";

// IsValidSecretName reports whether `name` is 1-128 characters of [A-Za-z0-9_.-] starting
// with a letter, digit or '_' (so neither "." nor ".." nor something that looks like a flag).
bool IsValidSecretName(absl::string_view name);

// ValidateSecretName returns InvalidArgument, saying what a name may be, unless IsValidSecretName.
absl::Status ValidateSecretName(absl::string_view name);

// ValidateSecretValue returns InvalidArgument for an empty value, one with a NUL byte (it could
// not be passed in an environment variable) or one longer than kMaxSecretValueBytes. The
// message never contains the value.
absl::Status ValidateSecretValue(absl::string_view value);

// SecretValueFromInput turns what was read from stdin into a value: strips one trailing "\n"
// (or "\r\n"), as `echo` and a terminal add one, then validates it (an empty value is refused).
absl::StatusOr<std::string> SecretValueFromInput(std::string input);

// SecretEnvVar returns the variable EnvSecretProvider reads for `name`: "MCPGW_SECRET_" + the
// name upper-cased with every character other than A-Z and 0-9 replaced by '_'
// ("github.token" → "MCPGW_SECRET_GITHUB_TOKEN"). Several names map to one variable
// ("github.token", "github-token"); the variable then serves all of them.
std::string SecretEnvVar(absl::string_view name);

// MissingSecretError builds the one error a user sees when a server cannot start for lack of a
// secret (NotFound): it names the secret, the server, the variable the server receives it in
// (omitted when `env_var` is empty) and the two ways to provide it, then where to get it when
// the catalog says (`how`, may be empty), e.g.
//   server "github" needs secret "github.token" (env GITHUB_TOKEN): set it with
//   `mcpgw secret set github.token` (value on stdin) or MCPGW_SECRET_GITHUB_TOKEN
absl::Status MissingSecretError(absl::string_view secret, absl::string_view server,
                                absl::string_view env_var, absl::string_view how = "");

// ---- providers --------------------------------------------------------------------------

// SecretProvider is one place secrets are kept. Get, List and Source never return or log a
// value other than through Get's result.
//
// Thread safety: implementations are thread-safe; the file store is also safe against other
// processes using the same file.
class SecretProvider {
 public:
  virtual ~SecretProvider() = default;

  // Kind is "env", "dir" or "file": what `mcpgw secret ls` shows first.
  virtual absl::string_view Kind() const = 0;

  // Source says, for people, where `name` is or would be kept by this provider:
  // "env MCPGW_SECRET_GITHUB_TOKEN", "dir /run/secrets", "file /home/u/.config/mcpgw/secrets.yaml".
  virtual std::string Source(absl::string_view name) const = 0;

  // Key: names with the same key are one secret in this provider. The identity by default; the
  // environment folds case and punctuation (see SecretEnvVar).
  virtual std::string Key(absl::string_view name) const { return std::string(name); }

  // Get returns the value of `name`, or nullopt when this provider does not have it. Errors
  // are for a provider that cannot be read (a store file with a mode looser than 0600, owned by
  // someone else, or malformed), never for an absent secret. `name` must be valid.
  virtual absl::StatusOr<std::optional<std::string>> Get(absl::string_view name) const = 0;

  // List returns the names this provider has, sorted. Names that are not valid secret names
  // (e.g. a stray file in a secrets directory) are left out.
  virtual absl::StatusOr<std::vector<std::string>> List() const = 0;

  // Writable providers accept Set and Remove; the others answer FailedPrecondition.
  virtual bool Writable() const { return false; }

  // Set stores `value` under `name`, replacing any value. The value must be valid
  // (ValidateSecretValue).
  virtual absl::Status Set(absl::string_view name, absl::string_view value);

  // Remove deletes `name`; NotFound when this provider does not have it.
  virtual absl::Status Remove(absl::string_view name);
};

using SecretProviderPtr = std::unique_ptr<SecretProvider>;

// EnvSecretProvider reads secret NAME from the environment variable SecretEnvVar(NAME).
// Read-only. List reports each MCPGW_SECRET_<SUFFIX> variable as the name <SUFFIX>. It reads
// the environment on every call; the library never changes the environment itself.
class EnvSecretProvider final : public SecretProvider {
 public:
  absl::string_view Kind() const override { return "env"; }
  std::string Source(absl::string_view name) const override;
  std::string Key(absl::string_view name) const override { return SecretEnvVar(name); }
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view name) const override;
  absl::StatusOr<std::vector<std::string>> List() const override;
};

// DirectorySecretProvider reads secret NAME from the file DIR/NAME (compose and swarm mount
// each secret at /run/secrets/<name>; Kubernetes' symlinked secret volumes work too), with
// one trailing newline stripped. Read-only. A missing directory holds no secrets.
class DirectorySecretProvider final : public SecretProvider {
 public:
  explicit DirectorySecretProvider(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  absl::string_view Kind() const override { return "dir"; }
  std::string Source(absl::string_view name) const override;
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view name) const override;
  absl::StatusOr<std::vector<std::string>> List() const override;

 private:
  std::string dir_;
};

// FileSecretProvider keeps secrets in one YAML file that only its owner may read:
//
//   version: 1
//   secrets:
//     github.token: "ghp_..."
//
// Reads refuse (PermissionDenied) a file whose mode gives any access to group or others —
// the message says which `chmod 600 PATH` fixes it — a file owned by another user, and a
// symbolic link. Writes create the directory (0700) and the file (0600) when absent, hold an
// exclusive flock on PATH.lock for the whole read-modify-write (so concurrent `secret set`s
// in several processes or threads never lose an update), and replace the file atomically: a
// temporary 0600 file in the same directory, fsync, rename, fsync of the directory. Readers take
// no lock: a rename shows them either the old file or the new one, never a partial one.
// The file is rewritten by mcpgw: comments in it are not kept.
class FileSecretProvider final : public SecretProvider {
 public:
  explicit FileSecretProvider(std::string path) : path_(std::move(path)) {}

  // DefaultPath returns $XDG_CONFIG_HOME/mcpgw/secrets.yaml, or ~/.config/mcpgw/secrets.yaml
  // when XDG_CONFIG_HOME is unset, empty or relative (as the XDG spec says to treat it).
  // FailedPrecondition when neither XDG_CONFIG_HOME nor a home directory is known.
  static absl::StatusOr<std::string> DefaultPath();

  const std::string& path() const { return path_; }
  absl::string_view Kind() const override { return "file"; }
  std::string Source(absl::string_view name) const override;
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view name) const override;
  absl::StatusOr<std::vector<std::string>> List() const override;
  bool Writable() const override { return true; }
  absl::Status Set(absl::string_view name, absl::string_view value) override;
  absl::Status Remove(absl::string_view name) override;

 private:
  std::string path_;
};

// ---- the store --------------------------------------------------------------------------

// One row of `mcpgw secret ls`: a name, the provider that serves it, and the providers further
// down the order that also have it (and are therefore overridden).
struct SecretListing {
  std::string name;
  std::string kind;                    // of the provider that serves it: "env", "dir", "file"
  std::string source;                  // SecretProvider::Source of that provider
  std::vector<std::string> overrides;  // Source of each lower provider that also has it
};

// What SecretStore::Set did.
struct SecretSetResult {
  std::string written_to;                  // Source of the provider written
  std::optional<std::string> shadowed_by;  // a provider earlier in the order that still wins
};

// What SecretStore::Remove did.
struct SecretRemoveResult {
  std::vector<std::string> removed_from;       // Source of each provider it was removed from
  std::optional<std::string> still_served_by;  // a read-only provider that still has it
};

// Who needs a secret, for the error when it is missing.
struct SecretRequest {
  std::string server;   // the server that declares the secret
  std::string env_var;  // the variable the server receives it in (may be empty)
  std::string how;      // where a user gets it, from the catalog (may be empty)
};

// SecretStore asks its providers in order; the first that has a secret wins.
//
// Thread safety: thread-compatible while providers are added; after that every method may be
// called from any thread (the providers are thread-safe).
class SecretStore {
 public:
  struct DefaultOptions {
    // Where compose mounts secrets; used when it exists as a directory.
    std::string run_secrets_dir = "/run/secrets";
    // The file store; empty means FileSecretProvider::DefaultPath().
    std::string file_path;
  };

  SecretStore() = default;
  explicit SecretStore(std::vector<SecretProviderPtr> providers)
      : providers_(std::move(providers)) {}
  SecretStore(SecretStore&&) = default;
  SecretStore& operator=(SecretStore&&) = default;

  // Default builds the standard order: env; $MCPGW_SECRETS_DIR when set; the run-secrets
  // directory when it exists; the file store. FailedPrecondition when MCPGW_SECRETS_DIR names
  // something that is not a directory (a typo should not silently hide secrets), or when no
  // file store path can be found.
  static absl::StatusOr<SecretStore> Default() { return Default(DefaultOptions()); }
  static absl::StatusOr<SecretStore> Default(const DefaultOptions& options);

  void AddProvider(SecretProviderPtr provider) { providers_.push_back(std::move(provider)); }
  const std::vector<SecretProviderPtr>& providers() const { return providers_; }

  // Get returns the value from the first provider that has `name`, or nullopt. InvalidArgument
  // for an invalid name; a provider's error (e.g. a refused store file) is returned as is.
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view name) const;

  // Require is Get for a server about to start: an absent secret is MissingSecretError(name,
  // request.server, request.env_var, request.how); other errors are prefixed with the server
  // and secret.
  absl::StatusOr<std::string> Require(absl::string_view name, const SecretRequest& request) const;

  // List returns every secret any provider has, sorted by name, each with the provider that
  // serves it. Names that are one secret in the winning provider (the environment folds
  // "github.token" and "GITHUB_TOKEN") are listed once, under the name another provider uses.
  absl::StatusOr<std::vector<SecretListing>> List() const;

  // Set writes `name` to the first writable provider. InvalidArgument for an invalid name or
  // value; FailedPrecondition when no provider is writable. The result says when an earlier
  // provider (e.g. an environment variable) has the name too and so still wins.
  absl::StatusOr<SecretSetResult> Set(absl::string_view name, absl::string_view value);

  // Remove deletes `name` from every writable provider that has it. NotFound when no provider
  // has it; FailedPrecondition, naming the source, when only read-only providers have it (an
  // environment variable or a mounted file must be removed where it is set). The result says
  // when a read-only provider still serves the name after the removal.
  absl::StatusOr<SecretRemoveResult> Remove(absl::string_view name);

 private:
  std::vector<SecretProviderPtr> providers_;
};

// ---- redaction --------------------------------------------------------------------------

// Redactor replaces every occurrence of a known secret value in a text with "***". Values
// shorter than kMinLength are not registered: masking every "a" or "12" would make text
// unreadable and hide nothing worth hiding. Overlapping and adjacent occurrences, and values
// that contain one another, become one "***". Each line of a multi-line value (a PEM key) is
// also registered, since a server's stderr may print one line of it at a time.
//
// Thread safety: thread-safe (servers start, adding values, while stderr is being relayed).
class Redactor {
 public:
  static constexpr size_t kMinLength = 4;
  static constexpr absl::string_view kMask = "***";

  // Add registers `value` (no-op when shorter than kMinLength or already known).
  void Add(absl::string_view value);

  // Redact returns `text` with every known value masked.
  std::string Redact(absl::string_view text) const;

  // RedactStatus returns `status` with its message redacted (same code; payloads dropped, as
  // they could carry a value too).
  absl::Status RedactStatus(const absl::Status& status) const;

  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> values_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mcpgw::gateway
