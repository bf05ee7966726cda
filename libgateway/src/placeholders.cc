#include "mcpgw/gateway/placeholders.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace mcpgw::gateway {
namespace {

bool IsKeyChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// A key is dot-separated non-empty parts of [A-Za-z0-9_-].
bool IsValidKey(absl::string_view key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') {
    return false;
  }
  char prev = '\0';
  for (char c : key) {
    if (c == '.') {
      if (prev == '.') {
        return false;
      }
    } else if (!IsKeyChar(c)) {
      return false;
    }
    prev = c;
  }
  return true;
}

absl::string_view StripBlanks(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

absl::StatusOr<std::vector<Placeholder>> ParsePlaceholders(absl::string_view text) {
  std::vector<Placeholder> out;
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == absl::string_view::npos) {
      break;
    }
    size_t close = text.find("}}", open + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'{{' at character ", open + 1, " has no closing '}}'"));
    }
    absl::string_view inner = StripBlanks(text.substr(open + 2, close - open - 2));
    Placeholder p;
    p.offset = open;
    p.length = close + 2 - open;
    absl::string_view key = inner;
    if (absl::ConsumePrefix(&key, "config.")) {
      p.kind = Placeholder::Kind::kConfig;
    } else if (absl::ConsumePrefix(&key, "secret.")) {
      p.kind = Placeholder::Kind::kSecret;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown placeholder '",
                                                     text.substr(open, p.length),
                                                     "'; use {{config.KEY}} or {{secret.NAME}}"));
    }
    if (!IsValidKey(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed placeholder '", text.substr(open, p.length),
                       "': a key is dot-separated parts of letters, digits, '_' and '-'"));
    }
    p.key = std::string(key);
    out.push_back(std::move(p));
    pos = close + 2;
  }
  return out;
}

bool ContainsPlaceholder(absl::string_view text) {
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == absl::string_view::npos) {
      return false;
    }
    absl::string_view rest = StripBlanks(text.substr(open + 2));
    if (absl::StartsWith(rest, "config.") || absl::StartsWith(rest, "secret.")) {
      return true;
    }
    pos = open + 2;
  }
}

absl::StatusOr<std::string> ExpandPlaceholders(absl::string_view text,
                                               PlaceholderResolver resolve) {
  absl::StatusOr<std::vector<Placeholder>> placeholders = ParsePlaceholders(text);
  if (!placeholders.ok()) {
    return placeholders.status();
  }
  std::string out;
  size_t pos = 0;
  for (const Placeholder& p : *placeholders) {
    out.append(text.data() + pos, p.offset - pos);
    absl::StatusOr<std::string> value = resolve(p);
    if (!value.ok()) {
      return value.status();
    }
    out.append(*value);
    pos = p.offset + p.length;
  }
  out.append(text.data() + pos, text.size() - pos);
  return out;
}

std::string ToString(const Placeholder& placeholder) {
  return absl::StrCat("{{", placeholder.kind == Placeholder::Kind::kConfig ? "config." : "secret.",
                      placeholder.key, "}}");
}

}  // namespace mcpgw::gateway
