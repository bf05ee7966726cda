#include "mcpgw/gateway/shell_words.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/gateway/placeholders.h"
#include "testing/status_matchers.h"

namespace mcpgw::gateway {
namespace {

using ::mcpgw::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct SplitCase {
  std::string line;
  std::vector<std::string> words;
};

TEST(SplitShellWords, Table) {
  const std::vector<SplitCase> cases = {
      {"", {}},
      {"   \t\n ", {}},
      {"npx", {"npx"}},
      {"npx -y @modelcontextprotocol/server-memory",
       {"npx", "-y", "@modelcontextprotocol/server-memory"}},
      {"  a   b\tc\nd  ", {"a", "b", "c", "d"}},
      // Single quotes keep everything literally, backslashes and double quotes included.
      {R"(echo 'a b' 'c\d' '"q"')", {"echo", "a b", R"(c\d)", R"("q")"}},
      // Double quotes: \" \\ \$ \` are escapes, any other backslash stays.
      {R"(echo "a b" "x\"y" "p\\q" "\$HOME" "\n")",
       {"echo", "a b", R"(x"y)", R"(p\q)", "$HOME", R"(\n)"}},
      // Unquoted backslash escapes the next character.
      {R"(a\ b c\'d e\\f)", {"a b", "c'd", R"(e\f)"}},
      // Adjacent quoted and unquoted parts make one word.
      {R"(--name="my server"'s' x)", {"--name=my servers", "x"}},
      // Empty quotes make empty words.
      {R"(cmd '' "" x)", {"cmd", "", "", "x"}},
      // Backslash-newline continues a line, unquoted and inside double quotes.
      {"a\\\nb \"c\\\nd\"", {"ab", "cd"}},
      // Nothing is expanded: no variables, globs, tilde, command substitution.
      {"ls $HOME ~/x *.txt `id` ${X}", {"ls", "$HOME", "~/x", "*.txt", "`id`", "${X}"}},
      // Operators quoted or escaped are ordinary characters.
      {R"(grep 'a|b' "c;d" e\&f \<)", {"grep", "a|b", "c;d", "e&f", "<"}},
      // A Go template in an argument is fine.
      {R"(docker ps --format '{{json .}}')", {"docker", "ps", "--format", "{{json .}}"}},
      // UTF-8 passes through.
      {"echo héllo 'wörld'", {"echo", "héllo", "wörld"}},
  };
  for (const SplitCase& c : cases) {
    absl::StatusOr<std::vector<std::string>> words = SplitShellWords(c.line);
    ASSERT_TRUE(words.ok()) << c.line << ": " << words.status();
    EXPECT_EQ(*words, c.words) << c.line;
  }
}

TEST(SplitShellWords, Errors) {
  struct ErrorCase {
    std::string line;
    std::string message;
  };
  const std::vector<ErrorCase> cases = {
      {"echo 'abc", "unterminated single quote at character 6"},
      {R"(echo "abc)", "unterminated double quote at character 6"},
      {R"(echo "a\")", "unterminated double quote at character 6"},
      {"echo abc\\", "ends with a lone backslash"},
      {"cat x | grep y", "unquoted '|' at character 7"},
      {"a && b", "unquoted '&' at character 3"},
      {"a; b", "unquoted ';' at character 2"},
      {"a > out", "unquoted '>' at character 3"},
      {"a <in", "unquoted '<' at character 3"},
      {"(a)", "unquoted '(' at character 1"},
      {"echo $(id)", "unquoted '(' at character 7"},
  };
  for (const ErrorCase& c : cases) {
    EXPECT_THAT(SplitShellWords(c.line),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.line;
  }
}

TEST(Placeholders, Parse) {
  MCPGW_ASSERT_OK_AND_ASSIGN(
      std::vector<Placeholder> ps,
      ParsePlaceholders("Bearer {{secret.api-token}} for {{ config.org.name }}!"));
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0].kind, Placeholder::Kind::kSecret);
  EXPECT_EQ(ps[0].key, "api-token");
  EXPECT_EQ(ps[0].offset, 7u);
  EXPECT_EQ(ps[0].length, 20u);
  EXPECT_EQ(ps[1].kind, Placeholder::Kind::kConfig);
  EXPECT_EQ(ps[1].key, "org.name");
  EXPECT_EQ(ToString(ps[1]), "{{config.org.name}}");

  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<Placeholder> none, ParsePlaceholders("no placeholders"));
  EXPECT_THAT(none, ElementsAre());
  EXPECT_THAT(ParsePlaceholders("x {{config.a"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no closing '}}'")));
  EXPECT_THAT(ParsePlaceholders("{{env.HOME}}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown placeholder '{{env.HOME}}'")));
  EXPECT_THAT(ParsePlaceholders("{{config.}}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed placeholder")));
  EXPECT_THAT(ParsePlaceholders("{{secret.a..b}}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed placeholder")));
  EXPECT_THAT(ParsePlaceholders("{{secret.a b}}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed placeholder")));
}

TEST(Placeholders, Contains) {
  EXPECT_TRUE(ContainsPlaceholder("--token={{secret.t}}"));
  EXPECT_TRUE(ContainsPlaceholder("{{ config.x"));
  EXPECT_FALSE(ContainsPlaceholder("--format={{json .}}"));
  EXPECT_FALSE(ContainsPlaceholder("plain"));
}

TEST(Placeholders, Expand) {
  auto resolve = [](const Placeholder& p) -> absl::StatusOr<std::string> {
    if (p.key == "missing") {
      return absl::NotFoundError("missing");
    }
    return p.kind == Placeholder::Kind::kSecret ? "S" : "C";
  };
  EXPECT_EQ(ExpandPlaceholders("a{{secret.x}}b{{config.y}}c", resolve).value_or("?"), "aSbCc");
  EXPECT_THAT(ExpandPlaceholders("{{secret.missing}}", resolve),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ExpandPlaceholders("plain", resolve).value_or("?"), "plain");
}

}  // namespace
}  // namespace mcpgw::gateway
