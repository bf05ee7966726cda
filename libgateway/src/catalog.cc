#include "mcpgw/gateway/catalog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "definition_reader.h"
#include "yaml_reader.h"

namespace mcpgw::gateway {
namespace {

using internal::CatchYaml;
using internal::CheckServerName;
using internal::CheckVersion;
using internal::DefinitionKeys;
using internal::DefinitionOptions;
using internal::ParseYaml;
using internal::ReadDefinition;
using internal::YamlMap;
using internal::YamlNode;

bool IsLowerAlnum(char c) { return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'z'); }

// A repository path component: lower-case letters and digits, separated by '.', '_', '__' or
// runs of '-' (the distribution spec's grammar, slightly relaxed).
bool IsPathComponent(absl::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) {
    return false;
  }
  return std::all_of(c.begin(), c.end(), [](char ch) {
    return IsLowerAlnum(ch) || ch == '.' || ch == '_' || ch == '-';
  });
}

bool IsRegistryHost(absl::string_view c) {
  if (c.empty()) {
    return false;
  }
  size_t colon = c.find(':');
  absl::string_view host = c.substr(0, colon);
  if (host.empty() || !std::all_of(host.begin(), host.end(), [](char ch) {
        return absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-';
      })) {
    return false;
  }
  if (colon != absl::string_view::npos) {
    absl::string_view port = c.substr(colon + 1);
    return !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char ch) {
      return absl::ascii_isdigit(static_cast<unsigned char>(ch));
    });
  }
  return true;
}

std::string Stem(absl::string_view path) {
  return std::filesystem::path(std::string(path)).stem().string();
}

}  // namespace

std::string SourceLocation::ToString() const {
  if (file.empty() && line <= 0) {
    return "";
  }
  if (line <= 0) {
    return file;
  }
  return absl::StrCat(file, ":", line, ":", column);
}

absl::StatusOr<RunMode> ParseRunMode(absl::string_view s) {
  if (s == "on-demand") {
    return RunMode::kOnDemand;
  }
  if (s == "long-lived") {
    return RunMode::kLongLived;
  }
  if (s == "per-call") {
    return RunMode::kPerCall;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown run mode '", s, "'; use on-demand, long-lived or per-call"));
}

absl::string_view ToString(RunMode mode) {
  switch (mode) {
    case RunMode::kOnDemand:
      return "on-demand";
    case RunMode::kLongLived:
      return "long-lived";
    case RunMode::kPerCall:
      return "per-call";
  }
  return "unknown";
}

absl::StatusOr<RemoteTransport> ParseRemoteTransport(absl::string_view s) {
  if (s == "auto") {
    return RemoteTransport::kAuto;
  }
  if (s == "streamable" || s == "http") {
    return RemoteTransport::kStreamable;
  }
  if (s == "sse") {
    return RemoteTransport::kSse;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown transport '", s,
      "'; use auto (Streamable HTTP, falling back to SSE), streamable (or http) or sse"));
}

absl::string_view ToString(RemoteTransport transport) {
  switch (transport) {
    case RemoteTransport::kAuto:
      return "auto";
    case RemoteTransport::kStreamable:
      return "streamable";
    case RemoteTransport::kSse:
      return "sse";
  }
  return "unknown";
}

bool IsLoopbackUrl(absl::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) {
    return false;
  }
  absl::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (authority.find('@') != absl::string_view::npos) {
    authority = authority.substr(authority.rfind('@') + 1);
  }
  std::string host;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return false;
    }
    host = std::string(authority.substr(1, close - 1));
    in6_addr v6;
    return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
  }
  host = absl::AsciiStrToLower(authority.substr(0, authority.find(':')));
  if (host == "localhost" || absl::EndsWith(host, ".localhost")) {
    return true;
  }
  in_addr v4;
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 &&
         (ntohl(v4.s_addr) >> 24) == 127;
}

const SecretSpec* ServerDefinition::FindSecret(absl::string_view secret_name) const {
  for (const SecretSpec& s : secrets) {
    if (s.name == secret_name) {
      return &s;
    }
  }
  return nullptr;
}

const ServerDefinition* Catalog::Find(absl::string_view server_name) const {
  for (const ServerDefinition& d : servers) {
    if (d.name == server_name) {
      return &d;
    }
  }
  return nullptr;
}

std::vector<std::string> Catalog::Names() const {
  std::vector<std::string> out;
  out.reserve(servers.size());
  for (const ServerDefinition& d : servers) {
    out.push_back(d.name);
  }
  return out;
}

namespace {

// ParseCatalogImpl parses a catalog; only the built-in one may define `builtin:` servers.
absl::StatusOr<Catalog> ParseCatalogImpl(absl::string_view text, absl::string_view source_name,
                                         absl::string_view catalog_name, bool allow_builtin) {
  Catalog catalog;
  catalog.source = std::string(source_name);
  catalog.name = catalog_name.empty() ? Stem(source_name) : std::string(catalog_name);
  absl::Status status = CatchYaml(source_name, [&]() -> absl::Status {
    absl::StatusOr<YamlNode> root = ParseYaml(text, source_name);
    if (!root.ok()) {
      return root.status();
    }
    if (root->is_null()) {
      return root->Error("the file is empty; a catalog starts with 'version: 1'");
    }
    absl::StatusOr<YamlMap> top = YamlMap::Read(*root, "a map (version, servers) at the top");
    if (!top.ok()) {
      return top.status();
    }
    if (absl::Status s = top->CheckKeys({"version", "description", "servers"}); !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckVersion(*top, "catalog"); !s.ok()) {
      return s;
    }
    if (const YamlNode* description = top->Find("description")) {
      absl::StatusOr<std::string> d = description->String();
      if (!d.ok()) {
        return d.status();
      }
      catalog.description = *d;
    }
    const YamlNode* servers = top->Find("servers");
    if (servers == nullptr) {
      return absl::OkStatus();  // an empty catalog is valid (a placeholder file)
    }
    absl::StatusOr<YamlMap> entries =
        YamlMap::Read(*servers, "a map of server names to definitions", /*null_is_empty=*/true);
    if (!entries.ok()) {
      return entries.status();
    }
    DefinitionOptions options{.allow_builtin = allow_builtin, .in_profile = false};
    for (const YamlMap::Entry& e : entries->entries()) {
      if (absl::Status s = CheckServerName(e.key_node, e.key); !s.ok()) {
        return s;
      }
      absl::StatusOr<YamlMap> entry = YamlMap::Read(e.value, "a server definition (a map)");
      if (!entry.ok()) {
        return entry.status();
      }
      if (absl::Status s = entry->CheckKeys(DefinitionKeys()); !s.ok()) {
        return s;
      }
      absl::StatusOr<ServerDefinition> def = ReadDefinition(e.key_node, *entry, options);
      if (!def.ok()) {
        return def.status();
      }
      catalog.servers.push_back(*std::move(def));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  return catalog;
}

}  // namespace

absl::StatusOr<Catalog> ParseCatalog(absl::string_view text, absl::string_view source_name,
                                     absl::string_view catalog_name) {
  return ParseCatalogImpl(text, source_name, catalog_name, /*allow_builtin=*/false);
}

absl::StatusOr<Catalog> LoadCatalogFile(absl::string_view path) {
  absl::StatusOr<std::string> text = internal::ReadFileToString(path);
  if (!text.ok()) {
    return text.status();
  }
  return ParseCatalog(*text, path);
}

absl::StatusOr<Catalog> DefaultCatalog() {
  return ParseCatalogImpl(BuiltinCatalogYaml(), kBuiltinCatalogSource, kDefaultCatalogName,
                          /*allow_builtin=*/true);
}

std::string DefaultConfigDir() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && xdg[0] == '/') {
    return absl::StrCat(xdg, "/mcpgw");
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') {
    return absl::StrCat(home, "/.config/mcpgw");
  }
  // No HOME (a service with a bare environment): the password database knows it.
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr) {
    return absl::StrCat(found->pw_dir, "/.config/mcpgw");
  }
  return ".config/mcpgw";
}

absl::StatusOr<std::vector<std::string>> ListUserCatalogs(absl::string_view config_dir) {
  std::filesystem::path dir = std::filesystem::path(std::string(config_dir)) / "catalogs";
  std::error_code ec;
  std::vector<std::string> names;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) {
      return names;
    }
    return absl::ErrnoToStatus(ec.value(), absl::StrCat("cannot list ", dir.string()));
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) {
      return absl::ErrnoToStatus(ec.value(), absl::StrCat("cannot list ", dir.string()));
    }
    const std::filesystem::path& p = it->path();
    if (p.extension() != ".yaml" || !it->is_regular_file(ec)) {
      continue;
    }
    std::string name = p.stem().string();
    if (name == kDefaultCatalogName) {
      return absl::InvalidArgumentError(
          absl::StrCat(p.string(), ": 'default' is the built-in catalog's name; rename the file"));
    }
    names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<Catalog> LoadUserCatalog(absl::string_view config_dir, absl::string_view name) {
  std::string path = absl::StrCat(config_dir, "/catalogs/", name, ".yaml");
  absl::StatusOr<Catalog> catalog = LoadCatalogFile(path);
  if (catalog.status().code() == absl::StatusCode::kNotFound) {
    absl::StatusOr<std::vector<std::string>> names = ListUserCatalogs(config_dir);
    std::string known =
        names.ok() && !names->empty()
            ? absl::StrCat("the user catalogs are: ", absl::StrJoin(*names, ", "))
            : absl::StrCat("there are no user catalogs in ", config_dir, "/catalogs");
    return absl::NotFoundError(absl::StrCat("no catalog named '", name, "' (", path,
                                            " does not exist); ", known,
                                            ", and 'default' is built in"));
  }
  return catalog;
}

absl::StatusOr<int64_t> ParseMemorySize(absl::string_view s) {
  absl::string_view text = absl::StripAsciiWhitespace(s);
  size_t digits_end = 0;
  while (digits_end < text.size() &&
         (absl::ascii_isdigit(static_cast<unsigned char>(text[digits_end])) ||
          text[digits_end] == '.')) {
    ++digits_end;
  }
  absl::string_view number = text.substr(0, digits_end);
  std::string unit = absl::AsciiStrToLower(text.substr(digits_end));
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", s, "' is not a size; write bytes or a number with a unit: 512m, 2g, 1.5g"));
  };
  double value = 0;
  if (number.empty() || !absl::SimpleAtod(number, &value) || !std::isfinite(value)) {
    return bad();
  }
  double multiplier;
  if (unit.empty() || unit == "b") {
    multiplier = 1;
  } else {
    // Docker's units are binary: 1k = 1024 bytes. "kb", "ki" and "kib" mean the same here.
    static constexpr absl::string_view kUnits = "kmgt";
    size_t power = kUnits.find(unit[0]);
    absl::string_view rest = absl::string_view(unit).substr(1);
    if (power == absl::string_view::npos ||
        !(rest.empty() || rest == "b" || rest == "i" || rest == "ib")) {
      return bad();
    }
    multiplier = std::pow(1024.0, static_cast<double>(power + 1));
  }
  double bytes = std::floor(value * multiplier);
  if (multiplier == 1 && bytes != value) {
    return bad();  // a fraction of a byte
  }
  if (bytes > 9.0e18) {
    return absl::InvalidArgumentError(absl::StrCat("'", s, "' is too large"));
  }
  int64_t out = static_cast<int64_t>(bytes);
  constexpr int64_t kDockerMinimum = int64_t{6} << 20;
  if (out != 0 && out < kDockerMinimum) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", s, "' is below Docker's minimum memory limit of 6m (use 0 for none)"));
  }
  return out;
}

absl::StatusOr<absl::Duration> ParseIdleTimeout(absl::string_view s) {
  absl::Duration d;
  if (!absl::ParseDuration(absl::StripAsciiWhitespace(s), &d) || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", s, "' is not a duration; write it with a unit, such as 90s, 5m or 1h30m"));
  }
  if (d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the idle timeout must be positive, got '", s,
                     "' (a server that should never stop runs in mode long-lived)"));
  }
  return d;
}

absl::Status ValidateImageReference(absl::string_view image) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", image, "' is not an image reference: ", why));
  };
  if (image.empty()) {
    return bad("it is empty");
  }
  for (char c : image) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c < 0x20 || c > 0x7e) {
      return bad("it holds a blank or a non-ASCII character");
    }
  }
  absl::string_view name = image;
  size_t at = name.find('@');
  if (at != absl::string_view::npos) {
    absl::string_view digest = name.substr(at + 1);
    name = name.substr(0, at);
    absl::string_view hex = digest;
    if (!absl::ConsumePrefix(&hex, "sha256:") || hex.size() != 64 ||
        !std::all_of(hex.begin(), hex.end(), [](char c) {
          return absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
        })) {
      return bad("a digest is @sha256: and 64 lower-case hex digits");
    }
  }
  // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
  size_t slash = name.rfind('/');
  size_t colon = name.rfind(':');
  if (colon != absl::string_view::npos && (slash == absl::string_view::npos || colon > slash)) {
    absl::string_view tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    if (tag.empty() || tag.size() > 128 || tag.front() == '.' || tag.front() == '-' ||
        !std::all_of(tag.begin(), tag.end(), [](char c) {
          return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                 c == '-';
        })) {
      return bad("a tag is 1-128 of A-Z a-z 0-9 _ . - (not starting with . or -)");
    }
  }
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  size_t first = 0;
  // The first part names a registry when it looks like a host ("ghcr.io", "localhost:5000").
  if (parts.size() > 1 &&
      (parts[0].find('.') != absl::string_view::npos ||
       parts[0].find(':') != absl::string_view::npos || parts[0] == "localhost")) {
    if (!IsRegistryHost(parts[0])) {
      return bad(absl::StrCat("'", parts[0], "' is not a registry host"));
    }
    first = 1;
  }
  for (size_t i = first; i < parts.size(); ++i) {
    if (!IsPathComponent(parts[i])) {
      return bad(absl::StrCat("the name part '", parts[i],
                              "' must be lower-case letters and digits, separated by . _ or -"));
    }
  }
  return absl::OkStatus();
}

}  // namespace mcpgw::gateway
