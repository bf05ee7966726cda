#include "mcpgw/gateway/shell_words.h"

#include <optional>

#include "absl/strings/str_cat.h"

namespace mcpgw::gateway {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsOperator(char c) {
  return c == '|' || c == '&' || c == ';' || c == '<' || c == '>' || c == '(' || c == ')';
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitShellWords(absl::string_view line) {
  std::vector<std::string> words;
  // A word exists once anything (even an empty pair of quotes) has been seen for it.
  std::optional<std::string> word;
  size_t i = 0;
  auto current = [&]() -> std::string& {
    if (!word.has_value()) {
      word.emplace();
    }
    return *word;
  };
  auto finish = [&] {
    if (word.has_value()) {
      words.push_back(std::move(*word));
      word.reset();
    }
  };
  while (i < line.size()) {
    char c = line[i];
    if (IsBlank(c)) {
      finish();
      ++i;
      continue;
    }
    if (c == '\'') {
      size_t close = line.find('\'', i + 1);
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("unterminated single quote at character ", i + 1, " of the command"));
      }
      current().append(line.data() + i + 1, close - i - 1);
      i = close + 1;
      continue;
    }
    if (c == '"') {
      size_t open = i;
      std::string& text = current();
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char d = line[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < line.size()) {
          char next = line[i + 1];
          if (next == '\n') {  // line continuation: both characters vanish
            i += 2;
            continue;
          }
          if (next == '$' || next == '`' || next == '"' || next == '\\') {
            text.push_back(next);
            i += 2;
            continue;
          }
        }
        // Any other backslash inside double quotes is an ordinary character (POSIX).
        text.push_back(d);
        ++i;
      }
      if (!closed) {
        return absl::InvalidArgumentError(
            absl::StrCat("unterminated double quote at character ", open + 1, " of the command"));
      }
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= line.size()) {
        return absl::InvalidArgumentError(
            "the command ends with a lone backslash; escape it as \\\\ or quote it");
      }
      char next = line[i + 1];
      if (next != '\n') {
        current().push_back(next);
      }
      i += 2;
      continue;
    }
    if (IsOperator(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unquoted '", absl::string_view(&c, 1), "' at character ", i + 1,
          " of the command: no shell runs, so pipes, redirections and command lists do not "
          "work; quote it to pass it as an argument"));
    }
    current().push_back(c);
    ++i;
  }
  finish();
  return words;
}

}  // namespace mcpgw::gateway
