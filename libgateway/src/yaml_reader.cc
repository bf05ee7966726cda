#include "yaml_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <limits>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace mcpgw::gateway::internal {
namespace {

// A document may expand (through aliases) to at most this many JSON values, and nest this
// deep: yaml-cpp shares aliased nodes, so a "billion laughs" file is small as a tree but
// enormous once converted.
constexpr int kMaxJsonValues = 100000;
constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxFileBytes = 16 << 20;

constexpr absl::string_view kTagPrefix = "tag:yaml.org,2002:";

SourceLocation FromMark(const YAML::Mark& mark, const std::string& file,
                        const SourceLocation& fallback) {
  if (mark.line < 0) {
    return fallback;
  }
  return SourceLocation{.file = file, .line = mark.line + 1, .column = mark.column + 1};
}

// EditDistance is the optimal-string-alignment distance: insertions, deletions, substitutions
// and transpositions of neighbours ("imgae" is one edit from "image"), ignoring case.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  auto same = [](char x, char y) {
    return absl::ascii_tolower(static_cast<unsigned char>(x)) ==
           absl::ascii_tolower(static_cast<unsigned char>(y));
  };
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) {
    d[i][0] = i;
  }
  for (size_t j = 0; j <= b.size(); ++j) {
    d[0][j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = same(a[i - 1], b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// What a scalar means under YAML 1.2's core schema.
struct Scalar {
  enum class Type { kNull, kBool, kInt, kFloat, kString };
  Type type = Type::kString;
  bool b = false;
  int64_t i = 0;
  double d = 0;
};

bool IsDecimalInt(absl::string_view s) {
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    s.remove_prefix(1);
  }
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

// [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool IsFloat(absl::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
    ++i;
  }
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
      ++i;
    }
    return i - start;
  };
  size_t whole = digits();
  size_t fraction = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    fraction = digits();
  }
  if (whole == 0 && fraction == 0) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
      ++i;
    }
    if (digits() == 0) {
      return false;
    }
  }
  return i == s.size();
}

bool ParseIntBase(absl::string_view digits, int base, int64_t& out) {
  if (digits.empty()) {
    return false;
  }
  uint64_t v = 0;
  for (char c : digits) {
    int d;
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      d = c - '0';
    } else if (absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      d = absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10;
    } else {
      return false;
    }
    if (d >= base) {
      return false;
    }
    if (v > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - d) / base) {
      return false;
    }
    v = v * base + d;
  }
  out = static_cast<int64_t>(v);
  return true;
}

// ResolvePlain types a plain (unquoted, untagged) scalar.
absl::StatusOr<Scalar> ResolvePlain(absl::string_view s) {
  Scalar out;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    out.type = Scalar::Type::kNull;
    return out;
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    out.type = Scalar::Type::kBool;
    out.b = true;
    return out;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    out.type = Scalar::Type::kBool;
    return out;
  }
  if (IsDecimalInt(s)) {
    if (absl::SimpleAtoi(s, &out.i)) {
      out.type = Scalar::Type::kInt;
      return out;
    }
    return absl::InvalidArgumentError(absl::StrCat("the integer ", s, " is out of range"));
  }
  if (absl::StartsWith(s, "0x") && ParseIntBase(s.substr(2), 16, out.i)) {
    out.type = Scalar::Type::kInt;
    return out;
  }
  if (absl::StartsWith(s, "0o") && ParseIntBase(s.substr(2), 8, out.i)) {
    out.type = Scalar::Type::kInt;
    return out;
  }
  if (IsFloat(s)) {
    if (absl::SimpleAtod(s, &out.d) && std::isfinite(out.d)) {
      out.type = Scalar::Type::kFloat;
      return out;
    }
    return absl::InvalidArgumentError(absl::StrCat("the number ", s, " is out of range"));
  }
  std::string lower = absl::AsciiStrToLower(s);
  if (lower == ".inf" || lower == "-.inf" || lower == "+.inf" || lower == ".nan") {
    return absl::InvalidArgumentError(
        absl::StrCat("'", s, "' is not a number JSON can hold; quote it for a string"));
  }
  return out;  // a string
}

// ResolveScalar types a scalar node, honouring quotes and the core schema's explicit tags.
absl::StatusOr<Scalar> ResolveScalar(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  const std::string& text = node.Scalar();
  if (tag == "?" || tag.empty()) {
    return ResolvePlain(text);
  }
  if (tag == "!") {  // quoted or block scalar: always a string
    return Scalar{};
  }
  absl::string_view name = tag;
  if (!absl::ConsumePrefix(&name, kTagPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported tag '", tag, "'"));
  }
  if (name == "str") {
    return Scalar{};
  }
  if (name != "null" && name != "bool" && name != "int" && name != "float") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported tag '!!", name, "'"));
  }
  absl::StatusOr<Scalar> s = ResolvePlain(text);
  if (!s.ok()) {
    return s;
  }
  bool fits =
      (name == "null" && s->type == Scalar::Type::kNull) ||
      (name == "bool" && s->type == Scalar::Type::kBool) ||
      (name == "int" && s->type == Scalar::Type::kInt) ||
      (name == "float" && (s->type == Scalar::Type::kFloat || s->type == Scalar::Type::kInt));
  if (!fits) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a valid !!", name));
  }
  if (name == "float" && s->type == Scalar::Type::kInt) {
    s->type = Scalar::Type::kFloat;
    s->d = static_cast<double>(s->i);
  }
  return s;
}

std::string Truncated(absl::string_view s) {
  constexpr size_t kMax = 40;
  if (s.size() <= kMax) {
    return std::string(s);
  }
  return absl::StrCat(s.substr(0, kMax), "...");
}

}  // namespace

absl::Status LocatedError(const SourceLocation& where, absl::string_view path,
                          absl::string_view message) {
  std::string out = where.ToString();
  if (!out.empty()) {
    out.append(": ");
  }
  if (!path.empty()) {
    absl::StrAppend(&out, path, ": ");
  }
  out.append(message.data(), message.size());
  return absl::InvalidArgumentError(out);
}

std::string DidYouMean(absl::string_view given, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& c : candidates) {
    size_t d = EditDistance(given, c);
    if (d < best_distance) {
      best_distance = d;
      best = &c;
    }
  }
  // A near miss: a typo or two, never more than a third of the word.
  if (best == nullptr || best_distance == 0 || best_distance > 2 ||
      best_distance * 3 > std::max(given.size(), best->size())) {
    return "";
  }
  return absl::StrCat("; did you mean '", *best, "'?");
}

std::string JoinPath(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

YamlNode::YamlNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path,
                   SourceLocation fallback)
    : node_(std::move(node)),
      file_(std::move(file)),
      path_(std::move(path)),
      fallback_(std::move(fallback)) {}

SourceLocation YamlNode::location() const {
  // yaml-cpp puts an empty value at the next token (often the next line); its key is where
  // the user looks.
  if (is_null() && fallback_.line > 0) {
    return fallback_;
  }
  return FromMark(node_.Mark(), *file_, fallback_);
}

absl::Status YamlNode::Error(absl::string_view message) const {
  return LocatedError(location(), path_, message);
}

bool YamlNode::is_null() const {
  if (!node_.IsDefined() || node_.IsNull()) {
    return true;
  }
  if (node_.IsScalar()) {
    absl::StatusOr<Scalar> s = ResolveScalar(node_);
    return s.ok() && s->type == Scalar::Type::kNull;
  }
  return false;
}
bool YamlNode::is_map() const { return node_.IsMap(); }
bool YamlNode::is_list() const { return node_.IsSequence(); }
bool YamlNode::is_scalar() const { return node_.IsScalar() && !is_null(); }

std::string YamlNode::Describe() const {
  if (is_null()) {
    return "nothing";
  }
  if (node_.IsMap()) {
    return "a map";
  }
  if (node_.IsSequence()) {
    return "a list";
  }
  absl::StatusOr<Scalar> s = ResolveScalar(node_);
  if (s.ok()) {
    switch (s->type) {
      case Scalar::Type::kBool:
        return s->b ? "true" : "false";
      case Scalar::Type::kInt:
      case Scalar::Type::kFloat:
        return absl::StrCat("the number ", node_.Scalar());
      default:
        break;
    }
  }
  return absl::StrCat("the string '", Truncated(node_.Scalar()), "'");
}

absl::Status YamlNode::Expected(absl::string_view what) const {
  return Error(absl::StrCat("expected ", what, ", got ", Describe()));
}

absl::StatusOr<std::string> YamlNode::String(absl::string_view what) const {
  if (!is_scalar()) {
    return Expected(what);
  }
  if (absl::StatusOr<Scalar> s = ResolveScalar(node_); !s.ok()) {
    return Error(s.status().message());  // an unsupported tag such as !!binary
  }
  return node_.Scalar();
}

absl::StatusOr<std::string> YamlNode::NonEmptyString(absl::string_view what) const {
  absl::StatusOr<std::string> s = String(what);
  if (s.ok() && s->empty()) {
    return Error(absl::StrCat("expected ", what, ", got an empty string"));
  }
  return s;
}

absl::StatusOr<bool> YamlNode::Bool() const {
  if (is_scalar()) {
    absl::StatusOr<Scalar> s = ResolveScalar(node_);
    if (s.ok() && s->type == Scalar::Type::kBool) {
      return s->b;
    }
    absl::string_view text = node_.Scalar();
    std::string lower = absl::AsciiStrToLower(text);
    if (lower == "yes" || lower == "no" || lower == "on" || lower == "off" || lower == "y" ||
        lower == "n") {
      return Error(absl::StrCat("expected true or false, got '", text,
                                "' (YAML 1.1 spellings are not booleans here)"));
    }
  }
  return Expected("true or false");
}

absl::StatusOr<int64_t> YamlNode::Int(absl::string_view what) const {
  if (is_scalar()) {
    absl::StatusOr<Scalar> s = ResolveScalar(node_);
    if (!s.ok()) {
      return Error(s.status().message());
    }
    if (s->type == Scalar::Type::kInt) {
      return s->i;
    }
  }
  return Expected(what);
}

absl::StatusOr<double> YamlNode::Number(absl::string_view what) const {
  if (is_scalar()) {
    absl::StatusOr<Scalar> s = ResolveScalar(node_);
    if (!s.ok()) {
      return Error(s.status().message());
    }
    if (s->type == Scalar::Type::kInt) {
      return static_cast<double>(s->i);
    }
    if (s->type == Scalar::Type::kFloat) {
      return s->d;
    }
  }
  return Expected(what);
}

YamlNode YamlNode::Child(YAML::Node child, std::string child_path, SourceLocation fallback) const {
  return YamlNode(std::move(child), file_, std::move(child_path), std::move(fallback));
}

absl::StatusOr<std::vector<YamlNode>> YamlNode::Items(absl::string_view what) const {
  if (!node_.IsSequence()) {
    return Expected(what);
  }
  std::vector<YamlNode> out;
  size_t i = 0;
  SourceLocation here = location();
  for (auto it = node_.begin(); it != node_.end(); ++it, ++i) {
    out.push_back(Child(*it, absl::StrCat(path_, "[", i, "]"), here));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> YamlNode::StringList(absl::string_view what) const {
  if (!node_.IsSequence()) {
    return Expected(what);
  }
  absl::StatusOr<std::vector<YamlNode>> items = Items(what);
  if (!items.ok()) {
    return items.status();
  }
  std::vector<std::string> out;
  for (const YamlNode& item : *items) {
    if (!item.is_scalar()) {
      return item.Error(absl::StrCat("expected ", what, ", got a list holding ", item.Describe()));
    }
    out.push_back(item.raw().Scalar());
  }
  return out;
}

namespace {

struct JsonBudget {
  int values = 0;
};

absl::Status ConvertToJson(const YamlNode& node, mcp::JsonValue& out, mcp::JsonAllocator& alloc,
                           JsonBudget& budget, int depth) {
  if (++budget.values > kMaxJsonValues) {
    return node.Error(absl::StrCat("the value expands to more than ", kMaxJsonValues,
                                   " items (through aliases?); simplify it"));
  }
  if (depth > kMaxJsonDepth) {
    return node.Error(absl::StrCat("nested deeper than ", kMaxJsonDepth, " levels"));
  }
  const YAML::Node& raw = node.raw();
  if (raw.IsMap()) {
    absl::StatusOr<YamlMap> map = YamlMap::Read(node);
    if (!map.ok()) {
      return map.status();
    }
    out.SetObject();
    for (const YamlMap::Entry& e : map->entries()) {
      mcp::JsonValue value;
      absl::Status s = ConvertToJson(e.value, value, alloc, budget, depth + 1);
      if (!s.ok()) {
        return s;
      }
      out.AddMember(mcp::JsonString(e.key, alloc), value, alloc);
    }
    return absl::OkStatus();
  }
  if (raw.IsSequence()) {
    absl::StatusOr<std::vector<YamlNode>> items = node.Items();
    if (!items.ok()) {
      return items.status();
    }
    out.SetArray();
    for (const YamlNode& item : *items) {
      mcp::JsonValue value;
      absl::Status s = ConvertToJson(item, value, alloc, budget, depth + 1);
      if (!s.ok()) {
        return s;
      }
      out.PushBack(value, alloc);
    }
    return absl::OkStatus();
  }
  if (!raw.IsDefined() || raw.IsNull()) {
    out.SetNull();
    return absl::OkStatus();
  }
  absl::StatusOr<Scalar> s = ResolveScalar(raw);
  if (!s.ok()) {
    return node.Error(s.status().message());
  }
  switch (s->type) {
    case Scalar::Type::kNull:
      out.SetNull();
      break;
    case Scalar::Type::kBool:
      out.SetBool(s->b);
      break;
    case Scalar::Type::kInt:
      out.SetInt64(s->i);
      break;
    case Scalar::Type::kFloat:
      out = mcp::JsonNumber(s->d);
      break;
    case Scalar::Type::kString:
      out = mcp::JsonString(raw.Scalar(), alloc);
      break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<mcp::Json> YamlNode::ToJson() const {
  mcp::Json json;
  JsonBudget budget;
  mcp::JsonValue value;
  absl::Status s = ConvertToJson(*this, value, json.allocator(), budget, 0);
  if (!s.ok()) {
    return s;
  }
  json.mutable_value() = std::move(value);
  return json;
}

absl::StatusOr<YamlMap> YamlMap::Read(const YamlNode& node, absl::string_view what,
                                      bool null_is_empty) {
  YamlMap map(node);
  if (null_is_empty && node.is_null()) {
    return map;
  }
  if (!node.is_map()) {
    return node.Error(absl::StrCat("expected ", what, ", got ", node.Describe()));
  }
  absl::flat_hash_map<std::string, int> first_line;
  SourceLocation here = node.location();
  for (auto it = node.raw().begin(); it != node.raw().end(); ++it) {
    YamlNode key = node.Child(it->first, node.path(), here);
    if (!key.is_scalar()) {
      return key.Error(absl::StrCat("a key must be a name, got ", key.Describe()));
    }
    std::string name = it->first.Scalar();
    SourceLocation key_location = key.location();
    YamlNode key_node = node.Child(it->first, JoinPath(node.path(), name), key_location);
    auto [seen, inserted] = first_line.try_emplace(name, key_location.line);
    if (!inserted) {
      return key_node.Error(absl::StrCat("duplicate key (first given on line ", seen->second, ")"));
    }
    YamlNode value = node.Child(it->second, JoinPath(node.path(), name), key_location);
    map.entries_.push_back(Entry{std::move(name), std::move(key_node), std::move(value)});
  }
  return map;
}

const YamlMap::Entry* YamlMap::FindEntry(absl::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) {
      return &e;
    }
  }
  return nullptr;
}

const YamlNode* YamlMap::Find(absl::string_view key) const {
  const Entry* e = FindEntry(key);
  return e == nullptr ? nullptr : &e->value;
}

absl::Status YamlMap::CheckKeys(const std::vector<std::string>& allowed) const {
  for (const Entry& e : entries_) {
    if (std::find(allowed.begin(), allowed.end(), e.key) != allowed.end()) {
      continue;
    }
    std::string hint = DidYouMean(e.key, allowed);
    if (hint.empty()) {
      hint = absl::StrCat("; expected one of: ", absl::StrJoin(allowed, ", "));
    }
    return e.key_node.Error(absl::StrCat("unknown key", hint));
  }
  return absl::OkStatus();
}

absl::StatusOr<YamlNode> ParseYaml(absl::string_view text, absl::string_view file) {
  auto name = std::make_shared<const std::string>(file);
  SourceLocation start{.file = *name, .line = 1, .column = 1};
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    SourceLocation where = FromMark(e.mark, *name, SourceLocation{.file = *name});
    return LocatedError(where, "", absl::StrCat("invalid YAML: ", e.msg));
  } catch (const std::exception& e) {
    return LocatedError(SourceLocation{.file = *name}, "",
                        absl::StrCat("cannot read YAML: ", e.what()));
  }
  if (docs.size() > 1) {
    YamlNode second(docs[1], name, "", start);
    return second.Error("the file holds more than one YAML document; keep only one");
  }
  if (docs.empty()) {
    return YamlNode(YAML::Node(), name, "", start);
  }
  return YamlNode(docs[0], name, "", start);
}

absl::Status CatchYaml(absl::string_view file, absl::FunctionRef<absl::Status()> body) {
  try {
    return body();
  } catch (const YAML::Exception& e) {
    return absl::InternalError(absl::StrCat(file, ": unexpected YAML error: ", e.what()));
  }
}

absl::Status CheckVersion(const YamlMap& top, absl::string_view what) {
  const YamlNode* version = top.Find("version");
  if (version == nullptr) {
    return top.node().Error(absl::StrCat("missing 'version: 1' at the top of the ", what));
  }
  absl::StatusOr<int64_t> v = version->Int("the integer 1");
  if (!v.ok()) {
    return v.status();
  }
  if (*v != 1) {
    return version->Error(absl::StrCat("unsupported version ", *v, "; this mcpgw reads ", what,
                                       " files of version 1"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileToString(absl::string_view path) {
  std::string p(path);
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    return absl::ErrnoToStatus(err, absl::StrCat("cannot open ", path));
  }
  absl::Cleanup close_fd = [fd] { close(fd); };
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", path));
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than ", kMaxFileBytes >> 20, " MiB; not a config file?"));
    }
  }
  return out;
}

}  // namespace mcpgw::gateway::internal
