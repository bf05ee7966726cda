#include "mcpgw/gateway/secret_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <set>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "mcpgw/base/status_macros.h"

extern char** environ;

namespace mcpgw::gateway {
namespace {

// A store file this large is not one mcpgw wrote; refuse it rather than read it whole.
constexpr off_t kMaxStoreFileBytes = 16 * 1024 * 1024;

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

std::string ErrnoText(int err) { return std::strerror(err); }

// Retries a syscall interrupted by a signal.
template <typename F>
auto RetryEintr(F f) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  if (slash == 0) {
    return "/";
  }
  return path.substr(0, slash);
}

// Strips one "\n" or "\r\n": what `echo`, a terminal or an editor leaves after a value.
void StripOneNewline(std::string& s) {
  if (absl::EndsWith(s, "\r\n")) {
    s.resize(s.size() - 2);
  } else if (absl::EndsWith(s, "\n")) {
    s.pop_back();
  }
}

// Reads all of `fd` (at most `limit` bytes; more is reported through `too_big`).
absl::Status ReadFd(int fd, size_t limit, std::string& out, bool& too_big) {
  too_big = false;
  char buf[8192];
  for (;;) {
    ssize_t n = RetryEintr([&] { return read(fd, buf, sizeof(buf)); });
    if (n < 0) {
      return absl::ErrnoToStatus(errno, "read");
    }
    if (n == 0) {
      return absl::OkStatus();
    }
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) {
      too_big = true;
      return absl::OkStatus();
    }
  }
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = RetryEintr([&] { return write(fd, data.data(), data.size()); });
    if (n < 0) {
      return absl::ErrnoToStatus(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) {
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

// ---- the store file ---------------------------------------------------------------------

using SecretMap = std::map<std::string, std::string, std::less<>>;

std::string ModeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Opens the store for reading and checks that only its owner — this user — can read it.
// Returns -1 (and OK) when the file does not exist.
absl::StatusOr<int> OpenStoreFile(const std::string& path) {
  // O_NOFOLLOW: a link could point anywhere (and its target's mode is not what was checked);
  // O_NONBLOCK: opening a FIFO planted at the path must not hang.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      return -1;
    }
    if (err == ELOOP) {
      return absl::PermissionDeniedError(absl::StrCat(
          "secret store ", path,
          " is a symbolic link; mcpgw only reads a regular file there (replace the link with "
          "the file, mode 0600)"));
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot read secret store ", path, ": ", ErrnoText(err)));
    }
    return absl::ErrnoToStatus(err, absl::StrCat("open secret store ", path));
  }
  absl::Cleanup close_on_error = [fd] { close(fd); };
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("secret store ", path, " is not a regular file; move it away"));
  }
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "secret store ", path, " is owned by uid ", st.st_uid, ", not by you (uid ", geteuid(),
        "); mcpgw only uses a secret store that you own: move it away, or `chown` it"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "secret store ", path, " has mode ", ModeString(st.st_mode),
        ", which lets other users read your secrets; mcpgw refuses it until you run `chmod 600 ",
        path, "`"));
  }
  if (st.st_size > kMaxStoreFileBytes) {
    return absl::FailedPreconditionError(absl::StrCat("secret store ", path, " is larger than ",
                                                      kMaxStoreFileBytes,
                                                      " bytes; it is not a file mcpgw wrote"));
  }
  std::move(close_on_error).Cancel();
  return fd;
}

std::string At(const std::string& path, const YAML::Mark& mark) {
  if (mark.line < 0) {
    return absl::StrCat(path, ": ");
  }
  return absl::StrCat(path, ":", mark.line + 1, ": ");
}

// Parses the store's YAML. Messages name the file, line and field, never a value.
absl::StatusOr<SecretMap> ParseStore(const std::string& path, const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // e.msg is yaml-cpp's description of the syntax error (e.what() would repeat the
    // position). A few descriptions end in ": <text>" — the character of a bad escape, a key —
    // which may be part of a value: only the fixed part before the colon is kept.
    absl::string_view msg = e.msg;
    msg = msg.substr(0, msg.find(':'));
    return absl::InvalidArgumentError(absl::StrCat(At(path, e.mark), msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot parse: ", e.what()));
  }
  SecretMap secrets;
  if (root.IsNull()) {
    return secrets;  // an empty file is an empty store
  }
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        At(path, root.Mark()), "the secret store must be a map with `version: 1` and `secrets:`"));
  }
  bool has_version = false;
  // Nodes are copied out of the iterator: `it->first` lives in a proxy that dies with the
  // full expression, so a reference to it would dangle.
  for (auto it = root.begin(); it != root.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    std::string field = key.IsScalar() ? key.Scalar() : "";
    if (field == "version") {
      if (!value.IsScalar() || value.Scalar() != "1") {
        return absl::InvalidArgumentError(
            absl::StrCat(At(path, key.Mark()), "version: must be 1 (this mcpgw reads version 1)"));
      }
      has_version = true;
    } else if (field == "secrets") {
      if (value.IsNull()) {
        continue;
      }
      if (!value.IsMap()) {
        return absl::InvalidArgumentError(
            absl::StrCat(At(path, key.Mark()), "secrets: must be a map of name: value"));
      }
      for (auto s = value.begin(); s != value.end(); ++s) {
        YAML::Node name_node = s->first;
        YAML::Node value_node = s->second;
        if (!name_node.IsScalar() || !IsValidSecretName(name_node.Scalar())) {
          return absl::InvalidArgumentError(absl::StrCat(
              At(path, name_node.Mark()), "secrets: '",
              name_node.IsScalar() ? name_node.Scalar() : "(not a string)",
              "' is not a valid secret name (1-128 characters of A-Z a-z 0-9 _ . -, starting "
              "with a letter, digit or _)"));
        }
        const std::string& name = name_node.Scalar();
        if (!value_node.IsScalar() || value_node.Scalar().empty()) {
          return absl::InvalidArgumentError(absl::StrCat(At(path, name_node.Mark()), "secrets.",
                                                         name,
                                                         ": the value must be a non-empty string"));
        }
        if (!secrets.emplace(name, value_node.Scalar()).second) {
          return absl::InvalidArgumentError(absl::StrCat(At(path, name_node.Mark()), "secrets.",
                                                         name, ": appears more than once"));
        }
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(At(path, key.Mark()), "unknown field '", field,
                                                     "' (expected version and secrets)"));
    }
  }
  if (!has_version) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": missing `version: 1` at the top of the file"));
  }
  return secrets;
}

// Reads and parses the store; an absent file is an empty store.
absl::StatusOr<SecretMap> LoadStore(const std::string& path) {
  MCPGW_ASSIGN_OR_RETURN(int fd, OpenStoreFile(path));
  if (fd < 0) {
    return SecretMap();
  }
  absl::Cleanup close_fd = [fd] { close(fd); };
  std::string text;
  bool too_big = false;
  absl::Status read = ReadFd(fd, static_cast<size_t>(kMaxStoreFileBytes), text, too_big);
  if (!read.ok()) {
    return absl::Status(read.code(), absl::StrCat("secret store ", path, ": ", read.message()));
  }
  if (too_big) {
    return absl::FailedPreconditionError(
        absl::StrCat("secret store ", path, " is larger than ", kMaxStoreFileBytes, " bytes"));
  }
  return ParseStore(path, text);
}

absl::StatusOr<std::string> EmitStore(const SecretMap& secrets) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "version" << YAML::Value << 1;
  out << YAML::Key << "secrets" << YAML::Value;
  if (secrets.empty()) {
    out << YAML::Flow;
  }
  out << YAML::BeginMap;
  for (const auto& [name, value] : secrets) {
    // Double-quoted, so that values such as `yes`, `null` or `0123` stay the strings they are
    // and control characters are escaped.
    out << YAML::Key << name << YAML::Value << YAML::DoubleQuoted << value;
  }
  out << YAML::EndMap << YAML::EndMap;
  if (!out.good()) {
    return absl::InternalError(absl::StrCat("cannot write the secret store: ", out.GetLastError()));
  }
  return absl::StrCat(
      "# mcpgw secret store: managed by `mcpgw secret set/rm`. Keep it mode 0600.\n", out.c_str(),
      "\n");
}

// Creates `dir` and its missing parents with mode 0700 (the XDG spec's mode for a directory
// it makes); existing directories keep theirs.
absl::Status EnsureDir(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(dir, " exists and is not a directory"));
    }
    return absl::OkStatus();
  }
  if (errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", dir));
  }
  std::string parent = Dirname(dir);
  if (parent != dir) {
    MCPGW_RETURN_IF_ERROR(EnsureDir(parent));
  }
  if (mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) {
      return absl::OkStatus();  // made by a concurrent writer
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", dir));
  }
  // A umask such as 0277 would otherwise leave the owner unable to use it.
  if (chmod(dir.c_str(), 0700) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", dir));
  }
  return absl::OkStatus();
}

// Holds an exclusive flock on PATH.lock. flock locks belong to the open file description, so
// two threads of one process that each open the lock file exclude each other as two processes
// do. The lock file stays: removing it would let a waiter lock an unlinked file.
class StoreLock {
 public:
  static absl::StatusOr<StoreLock> Acquire(const std::string& store_path) {
    std::string lock_path = absl::StrCat(store_path, ".lock");
    int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("open lock file ", lock_path));
    }
    if (RetryEintr([fd] { return flock(fd, LOCK_EX); }) != 0) {
      int err = errno;
      close(fd);
      return absl::ErrnoToStatus(err, absl::StrCat("flock ", lock_path));
    }
    return StoreLock(fd);
  }
  StoreLock(StoreLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  StoreLock& operator=(StoreLock&&) = delete;
  ~StoreLock() {
    if (fd_ >= 0) {
      close(fd_);  // releases the lock
    }
  }

 private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_;
};

// Replaces the store with `secrets` atomically: a temporary 0600 file in the same directory
// (rename is atomic only within one filesystem), written and fsynced, renamed over the store,
// then the directory fsynced so the rename itself survives a crash.
absl::Status WriteStore(const std::string& path, const SecretMap& secrets) {
  MCPGW_ASSIGN_OR_RETURN(std::string text, EmitStore(secrets));
  std::string tmp = absl::StrCat(path, ".tmp.XXXXXX");
  int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("create a temporary file next to ", path));
  }
  bool renamed = false;
  absl::Cleanup cleanup = [&] {
    if (fd >= 0) {
      close(fd);
    }
    if (!renamed) {
      unlink(tmp.c_str());
    }
  };
  // mkostemp asks for 0600, but through the umask; make it exactly 0600.
  if (fchmod(fd, 0600) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", tmp));
  }
  MCPGW_RETURN_IF_ERROR(WriteAll(fd, text));
  if (fsync(fd) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("fsync ", tmp));
  }
  int closing = std::exchange(fd, -1);
  if (close(closing) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("close ", tmp));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("rename ", tmp, " to ", path));
  }
  renamed = true;
  int dir_fd = open(Dirname(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    // The new file is in place; a failed directory fsync only weakens crash durability.
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

// Runs `change` on the store's contents under the lock and writes the result.
template <typename F>
absl::Status ModifyStore(const std::string& path, F change) {
  MCPGW_RETURN_IF_ERROR(EnsureDir(Dirname(path)));
  MCPGW_ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(path));
  // Read under the lock: the content another writer committed just before is included.
  MCPGW_ASSIGN_OR_RETURN(SecretMap secrets, LoadStore(path));
  MCPGW_RETURN_IF_ERROR(change(secrets));
  return WriteStore(path, secrets);
}

}  // namespace

// ---- names and values -------------------------------------------------------------------

bool IsValidSecretName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxSecretNameLength) {
    return false;
  }
  if (name.front() == '.' || name.front() == '-') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), IsNameChar);
}

absl::Status ValidateSecretName(absl::string_view name) {
  if (IsValidSecretName(name)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", name.substr(0, kMaxSecretNameLength), name.size() > kMaxSecretNameLength ? "..." : "",
      "' is not a valid secret name: use 1-", kMaxSecretNameLength,
      " characters of A-Z a-z 0-9 _ . -, starting with a letter, digit or _ (e.g. github.token)"));
}

absl::Status ValidateSecretValue(absl::string_view value) {
  if (value.empty()) {
    return absl::InvalidArgumentError("the secret value is empty");
  }
  if (value.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "the secret value contains a NUL byte, which cannot be passed in an environment "
        "variable");
  }
  if (value.size() > kMaxSecretValueBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the secret value is ", value.size(),
                                                   " bytes; the limit is ", kMaxSecretValueBytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SecretValueFromInput(std::string input) {
  StripOneNewline(input);
  if (input.empty()) {
    return absl::InvalidArgumentError(
        "the secret value is empty: give it on stdin, e.g. `printf %s \"$TOKEN\" | mcpgw "
        "secret set NAME`");
  }
  MCPGW_RETURN_IF_ERROR(ValidateSecretValue(input));
  return input;
}

std::string SecretEnvVar(absl::string_view name) {
  std::string var(kSecretEnvPrefix);
  var.reserve(var.size() + name.size());
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    var.push_back(absl::ascii_isalnum(u) ? absl::ascii_toupper(u) : '_');
  }
  return var;
}

absl::Status MissingSecretError(absl::string_view secret, absl::string_view server,
                                absl::string_view env_var, absl::string_view how) {
  std::string env_part = env_var.empty() ? "" : absl::StrCat(" (env ", env_var, ")");
  std::string how_part = how.empty() ? "" : absl::StrCat("; to get it: ", how);
  return absl::NotFoundError(absl::StrCat("server \"", server, "\" needs secret \"", secret, "\"",
                                          env_part, ": set it with `mcpgw secret set ", secret,
                                          "` (value on stdin) or ", SecretEnvVar(secret),
                                          how_part));
}

// ---- providers --------------------------------------------------------------------------

absl::Status SecretProvider::Set(absl::string_view name, absl::string_view /*value*/) {
  return absl::FailedPreconditionError(
      absl::StrCat(Source(name), " is read-only; mcpgw cannot store secrets there"));
}

absl::Status SecretProvider::Remove(absl::string_view name) {
  return absl::FailedPreconditionError(
      absl::StrCat(Source(name), " is read-only; remove the secret where it is set"));
}

std::string EnvSecretProvider::Source(absl::string_view name) const {
  return absl::StrCat("env ", SecretEnvVar(name));
}

absl::StatusOr<std::optional<std::string>> EnvSecretProvider::Get(absl::string_view name) const {
  MCPGW_RETURN_IF_ERROR(ValidateSecretName(name));
  const char* value = std::getenv(SecretEnvVar(name).c_str());
  // Empty counts as unset: compose passes an unset variable through as an empty one.
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  return std::string(value);
}

absl::StatusOr<std::vector<std::string>> EnvSecretProvider::List() const {
  std::vector<std::string> names;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    if (!absl::StartsWith(entry, kSecretEnvPrefix)) {
      continue;
    }
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos || eq + 1 == entry.size()) {
      continue;
    }
    absl::string_view var = entry.substr(0, eq);
    absl::string_view suffix = var.substr(kSecretEnvPrefix.size());
    // Only variables Get would read back under the listed name (e.g. not a lower-case one).
    if (IsValidSecretName(suffix) && SecretEnvVar(suffix) == var) {
      names.emplace_back(suffix);
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string DirectorySecretProvider::Source(absl::string_view /*name*/) const {
  return absl::StrCat("dir ", dir_);
}

absl::StatusOr<std::optional<std::string>> DirectorySecretProvider::Get(
    absl::string_view name) const {
  MCPGW_RETURN_IF_ERROR(ValidateSecretName(name));
  std::string path = absl::StrCat(dir_, "/", name);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return std::nullopt;
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot read secret file ", path, ": ", ErrnoText(err)));
    }
    return absl::ErrnoToStatus(err, absl::StrCat("open secret file ", path));
  }
  absl::Cleanup close_fd = [fd] { close(fd); };
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return std::nullopt;  // a directory (or worse) of that name is not a secret
  }
  std::string value;
  bool too_big = false;
  absl::Status read = ReadFd(fd, kMaxSecretValueBytes + 2, value, too_big);
  if (!read.ok()) {
    return absl::Status(read.code(), absl::StrCat("secret file ", path, ": ", read.message()));
  }
  StripOneNewline(value);
  if (too_big || value.size() > kMaxSecretValueBytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("secret file ", path, " is larger than ", kMaxSecretValueBytes, " bytes"));
  }
  if (value.empty()) {
    return std::nullopt;  // as for the environment: an empty secret is an unset one
  }
  if (value.find('\0') != std::string::npos) {
    return absl::FailedPreconditionError(
        absl::StrCat("secret file ", path,
                     " contains a NUL byte, which cannot be passed in an environment variable"));
  }
  return value;
}

absl::StatusOr<std::vector<std::string>> DirectorySecretProvider::List() const {
  std::vector<std::string> names;
  DIR* dir = opendir(dir_.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return names;
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("list secrets directory ", dir_));
  }
  absl::Cleanup close_dir = [dir] { closedir(dir); };
  while (struct dirent* entry = readdir(dir)) {
    absl::string_view name(entry->d_name);
    if (!IsValidSecretName(name)) {
      continue;  // ".", "..", Kubernetes' "..data", stray files
    }
    struct stat st;
    // stat, not lstat: Kubernetes mounts each secret as a symlink into a data directory.
    if (stat(absl::StrCat(dir_, "/", name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      names.emplace_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::string> FileSecretProvider::DefaultPath() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  // The XDG spec: a relative XDG_CONFIG_HOME is invalid and is ignored.
  if (xdg != nullptr && xdg[0] == '/') {
    return absl::StrCat(xdg, "/mcpgw/secrets.yaml");
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') {
    return absl::StrCat(home, "/.config/mcpgw/secrets.yaml");
  }
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr && found->pw_dir[0] == '/') {
    return absl::StrCat(found->pw_dir, "/.config/mcpgw/secrets.yaml");
  }
  return absl::FailedPreconditionError(
      "cannot find where to keep secrets: set XDG_CONFIG_HOME or HOME to an absolute path");
}

std::string FileSecretProvider::Source(absl::string_view /*name*/) const {
  return absl::StrCat("file ", path_);
}

absl::StatusOr<std::optional<std::string>> FileSecretProvider::Get(absl::string_view name) const {
  MCPGW_RETURN_IF_ERROR(ValidateSecretName(name));
  MCPGW_ASSIGN_OR_RETURN(SecretMap secrets, LoadStore(path_));
  auto it = secrets.find(name);
  if (it == secrets.end()) {
    return std::nullopt;
  }
  return std::move(it->second);
}

absl::StatusOr<std::vector<std::string>> FileSecretProvider::List() const {
  MCPGW_ASSIGN_OR_RETURN(SecretMap secrets, LoadStore(path_));
  std::vector<std::string> names;
  names.reserve(secrets.size());
  for (const auto& entry : secrets) {
    names.push_back(entry.first);
  }
  return names;  // sorted: the map is
}

absl::Status FileSecretProvider::Set(absl::string_view name, absl::string_view value) {
  MCPGW_RETURN_IF_ERROR(ValidateSecretName(name));
  MCPGW_RETURN_IF_ERROR(ValidateSecretValue(value));
  // YAML is text: the emitter would silently replace invalid UTF-8 with U+FFFD.
  if (!IsValidUtf8(value)) {
    return absl::InvalidArgumentError(
        "the secret value is not valid UTF-8 text; the file store keeps text only (base64-encode "
        "binary values, or mount them as a file in a secrets directory)");
  }
  return ModifyStore(path_, [&](SecretMap& secrets) {
    secrets.insert_or_assign(std::string(name), std::string(value));
    return absl::OkStatus();
  });
}

absl::Status FileSecretProvider::Remove(absl::string_view name) {
  MCPGW_RETURN_IF_ERROR(ValidateSecretName(name));
  // Not through ModifyStore straight away: removing from an absent store must not create one.
  struct stat st;
  if (lstat(path_.c_str(), &st) != 0 && errno == ENOENT) {
    return absl::NotFoundError(absl::StrCat("no secret \"", name, "\" in ", path_));
  }
  return ModifyStore(path_, [&](SecretMap& secrets) {
    auto it = secrets.find(name);
    if (it == secrets.end()) {
      return absl::NotFoundError(absl::StrCat("no secret \"", name, "\" in ", path_));
    }
    secrets.erase(it);
    return absl::OkStatus();
  });
}

// ---- the store --------------------------------------------------------------------------

absl::StatusOr<SecretStore> SecretStore::Default(const DefaultOptions& options) {
  std::vector<SecretProviderPtr> providers;
  providers.push_back(std::make_unique<EnvSecretProvider>());
  std::string explicit_dir;
  if (const char* dir = std::getenv("MCPGW_SECRETS_DIR"); dir != nullptr && *dir != '\0') {
    explicit_dir = dir;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("MCPGW_SECRETS_DIR is set to ", explicit_dir,
                       ", which is not a directory; fix the path or unset MCPGW_SECRETS_DIR"));
    }
    providers.push_back(std::make_unique<DirectorySecretProvider>(explicit_dir));
  }
  if (!options.run_secrets_dir.empty() && options.run_secrets_dir != explicit_dir) {
    struct stat st;
    if (stat(options.run_secrets_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      providers.push_back(std::make_unique<DirectorySecretProvider>(options.run_secrets_dir));
    }
  }
  std::string file_path = options.file_path;
  if (file_path.empty()) {
    MCPGW_ASSIGN_OR_RETURN(file_path, FileSecretProvider::DefaultPath());
  }
  providers.push_back(std::make_unique<FileSecretProvider>(std::move(file_path)));
  return SecretStore(std::move(providers));
}

absl::StatusOr<std::optional<std::string>> SecretStore::Get(absl::string_view name) const {
  MCPGW_RETURN_IF_ERROR(ValidateSecretName(name));
  for (const SecretProviderPtr& provider : providers_) {
    MCPGW_ASSIGN_OR_RETURN(std::optional<std::string> value, provider->Get(name));
    if (value.has_value()) {
      return value;
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::string> SecretStore::Require(absl::string_view name,
                                                 const SecretRequest& request) const {
  absl::StatusOr<std::optional<std::string>> value = Get(name);
  if (!value.ok()) {
    return absl::Status(value.status().code(),
                        absl::StrCat("server \"", request.server, "\" needs secret \"", name,
                                     "\": ", value.status().message()));
  }
  if (!value->has_value()) {
    return MissingSecretError(name, request.server, request.env_var, request.how);
  }
  return std::move(**value);
}

absl::StatusOr<std::vector<SecretListing>> SecretStore::List() const {
  // Which providers list which names, and each provider's keys (so that a provider which folds
  // names, the environment, is seen to have "github.token" when it lists GITHUB_TOKEN).
  std::map<std::string, std::set<size_t>> listed_by;
  std::vector<std::set<std::string>> keys(providers_.size());
  for (size_t i = 0; i < providers_.size(); ++i) {
    MCPGW_ASSIGN_OR_RETURN(std::vector<std::string> names, providers_[i]->List());
    for (std::string& name : names) {
      keys[i].insert(providers_[i]->Key(name));
      listed_by[std::move(name)].insert(i);
    }
  }
  struct Row {
    SecretListing listing;
    size_t winner;
    std::string key;
    bool listed_elsewhere;  // listed by some provider other than the winner
  };
  std::vector<Row> rows;
  for (const auto& [name, by] : listed_by) {
    std::vector<size_t> has;
    for (size_t i = 0; i < providers_.size(); ++i) {
      if (keys[i].contains(providers_[i]->Key(name))) {
        has.push_back(i);
      }
    }
    if (has.empty()) {
      continue;  // cannot happen: the name was listed by someone
    }
    size_t winner = has.front();
    Row row{.listing = {.name = name,
                        .kind = std::string(providers_[winner]->Kind()),
                        .source = providers_[winner]->Source(name)},
            .winner = winner,
            .key = providers_[winner]->Key(name),
            .listed_elsewhere =
                std::any_of(by.begin(), by.end(), [&](size_t i) { return i != winner; })};
    for (size_t k = 1; k < has.size(); ++k) {
      row.listing.overrides.push_back(providers_[has[k]]->Source(name));
    }
    rows.push_back(std::move(row));
  }
  // Names that are one secret in their winning provider are listed once: under the names other
  // providers use ("github.token" from the file rather than GITHUB_TOKEN from the environment).
  std::map<std::pair<size_t, std::string>, bool> group_has_named;
  for (const Row& row : rows) {
    group_has_named[{row.winner, row.key}] |= row.listed_elsewhere;
  }
  std::vector<SecretListing> out;
  for (Row& row : rows) {
    if (row.listed_elsewhere || !group_has_named[{row.winner, row.key}]) {
      out.push_back(std::move(row.listing));
    }
  }
  return out;
}

absl::StatusOr<SecretSetResult> SecretStore::Set(absl::string_view name, absl::string_view value) {
  MCPGW_RETURN_IF_ERROR(ValidateSecretName(name));
  MCPGW_RETURN_IF_ERROR(ValidateSecretValue(value));
  for (size_t i = 0; i < providers_.size(); ++i) {
    if (!providers_[i]->Writable()) {
      continue;
    }
    MCPGW_RETURN_IF_ERROR(providers_[i]->Set(name, value));
    SecretSetResult result{.written_to = providers_[i]->Source(name)};
    for (size_t k = 0; k < i; ++k) {
      // Best effort: the value is stored; an unreadable earlier provider only loses the note.
      absl::StatusOr<std::optional<std::string>> earlier = providers_[k]->Get(name);
      if (earlier.ok() && earlier->has_value()) {
        result.shadowed_by = providers_[k]->Source(name);
        break;
      }
    }
    return result;
  }
  return absl::FailedPreconditionError("no writable secret provider is configured");
}

absl::StatusOr<SecretRemoveResult> SecretStore::Remove(absl::string_view name) {
  MCPGW_RETURN_IF_ERROR(ValidateSecretName(name));
  SecretRemoveResult result;
  for (const SecretProviderPtr& provider : providers_) {
    if (!provider->Writable()) {
      continue;
    }
    absl::Status removed = provider->Remove(name);
    if (removed.ok()) {
      result.removed_from.push_back(provider->Source(name));
    } else if (!absl::IsNotFound(removed)) {
      return removed;
    }
  }
  for (const SecretProviderPtr& provider : providers_) {
    if (provider->Writable()) {
      continue;
    }
    // Best effort: an unreadable read-only provider must not turn a done removal into an error.
    absl::StatusOr<std::optional<std::string>> value = provider->Get(name);
    if (value.ok() && value->has_value()) {
      result.still_served_by = provider->Source(name);
      break;
    }
  }
  if (!result.removed_from.empty()) {
    return result;
  }
  if (result.still_served_by.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("secret \"", name, "\" comes from ", *result.still_served_by,
                     ", which mcpgw cannot change; remove it there"));
  }
  return absl::NotFoundError(
      absl::StrCat("no secret named \"", name, "\"; `mcpgw secret ls` lists them"));
}

// ---- redaction --------------------------------------------------------------------------

void Redactor::Add(absl::string_view value) {
  std::vector<absl::string_view> candidates = {value};
  if (value.find('\n') != absl::string_view::npos) {
    for (absl::string_view line : absl::StrSplit(value, '\n')) {
      if (absl::EndsWith(line, "\r")) {
        line.remove_suffix(1);
      }
      candidates.push_back(line);
    }
  }
  absl::MutexLock lock(&mu_);
  for (absl::string_view v : candidates) {
    if (v.size() < kMinLength) {
      continue;
    }
    if (std::find(values_.begin(), values_.end(), v) == values_.end()) {
      values_.emplace_back(v);
    }
  }
}

std::string Redactor::Redact(absl::string_view text) const {
  // Every occurrence of every value, overlapping ones included, as [begin, end) ranges; then
  // merged, so that values overlapping or containing one another leave no fragment behind.
  std::vector<std::pair<size_t, size_t>> ranges;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& v : values_) {
      for (size_t pos = text.find(v); pos != absl::string_view::npos; pos = text.find(v, pos + 1)) {
        ranges.emplace_back(pos, pos + v.size());
      }
    }
  }
  if (ranges.empty()) {
    return std::string(text);
  }
  std::sort(ranges.begin(), ranges.end());
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;
  size_t i = 0;
  while (i < ranges.size()) {
    size_t begin = ranges[i].first;
    size_t end = ranges[i].second;
    // Adjacent ranges merge too: two secrets side by side become one mask.
    for (++i; i < ranges.size() && ranges[i].first <= end; ++i) {
      end = std::max(end, ranges[i].second);
    }
    out.append(text.data() + copied, begin - copied);
    out.append(kMask.data(), kMask.size());
    copied = end;
  }
  out.append(text.data() + copied, text.size() - copied);
  return out;
}

absl::Status Redactor::RedactStatus(const absl::Status& status) const {
  if (status.ok()) {
    return status;
  }
  return absl::Status(status.code(), Redact(status.message()));
}

size_t Redactor::size() const {
  absl::MutexLock lock(&mu_);
  return values_.size();
}

}  // namespace mcpgw::gateway
