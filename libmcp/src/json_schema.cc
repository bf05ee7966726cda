#include "mcpgw/mcp/json_schema.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <exception>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "mcpgw/base/status_macros.h"

namespace mcpgw::mcp {
namespace internal {

// A `pattern` or `patternProperties` key. `whole` is `[\s\S]*(?:source)[\s\S]*`, used with
// std::regex_match: an unanchored search as one pass of the automaton (regex_search would
// restart at every position, quadratic in the string length).
struct Pattern {
  std::string source;
  std::wregex whole;
};

// One compiled schema: children are indices into CompiledSchema::nodes, -1 when absent.
struct Node {
  enum class Kind : uint8_t { kTrue, kFalse, kSchema };
  Kind kind = Kind::kSchema;

  uint8_t types = 0;                       // a mask of kType* bits; 0 when `type` is absent
  const JsonValue* enum_values = nullptr;  // these point into CompiledSchema::source
  const JsonValue* const_value = nullptr;

  int ref = -1;
  std::vector<int> all_of;
  std::vector<int> any_of;
  std::vector<int> one_of;
  int not_schema = -1;
  int if_schema = -1;
  int then_schema = -1;
  int else_schema = -1;

  absl::flat_hash_map<std::string, int> properties;
  std::vector<std::pair<Pattern, int>> pattern_properties;
  int additional_properties = -1;
  int property_names = -1;
  std::vector<std::string> required;
  std::optional<uint64_t> min_properties;
  std::optional<uint64_t> max_properties;

  std::vector<int> prefix_items;
  int items = -1;  // applies to the elements after prefix_items
  std::optional<uint64_t> min_items;
  std::optional<uint64_t> max_items;
  bool unique_items = false;

  std::optional<uint64_t> min_length;
  std::optional<uint64_t> max_length;
  std::optional<Pattern> pattern;

  const JsonValue* minimum = nullptr;
  const JsonValue* maximum = nullptr;
  const JsonValue* exclusive_minimum = nullptr;
  const JsonValue* exclusive_maximum = nullptr;
  const JsonValue* multiple_of = nullptr;
};

// Immutable after Compile; shared by all copies of a JsonSchema.
struct CompiledSchema {
  Json source;              // owned copy of the schema
  std::vector<Node> nodes;  // nodes[0] is the root
};

namespace {

static_assert(sizeof(wchar_t) == 4, "patterns are matched as UTF-32");

constexpr size_t kMaxErrors = 5;                        // problems listed by Validate
constexpr int kMaxEvalDepth = 4 * kMaxJsonSchemaDepth;  // nested subschema applications
constexpr uint64_t kMaxSteps = uint64_t{1} << 22;       // subschema applications per Validate
constexpr size_t kMaxExplainedBranches = 3;             // anyOf/oneOf branches explained
constexpr size_t kMaxSnippet = 80;                      // bytes of a value quoted in a message
constexpr uint64_t kMaxPatternUnits = 2000;             // see PatternWithinLimits
constexpr size_t kMaxPatternNesting = 32;

#if defined(__GLIBCXX__)
// libstdc++'s default matcher backtracks recursively: a long string overflows the stack and a
// pattern like (a|a)*b takes exponential time. __polynomial selects its breadth-first matcher
// (linear in the string, recursion bounded by the pattern), which refuses back-references.
constexpr auto kRegexFlags = std::regex_constants::ECMAScript | std::regex_constants::__polynomial;
#else
constexpr auto kRegexFlags = std::regex_constants::ECMAScript;
#endif

enum : uint8_t {
  kTypeNull = 1,
  kTypeBoolean = 2,
  kTypeObject = 4,
  kTypeArray = 8,
  kTypeNumber = 16,
  kTypeInteger = 32,
  kTypeString = 64,
};

struct TypeName {
  absl::string_view name;
  uint8_t bit;
  absl::string_view phrase;  // for messages: "must be a string"
};

constexpr TypeName kTypeNames[] = {
    {"string", kTypeString, "a string"},
    {"number", kTypeNumber, "a number"},
    {"integer", kTypeInteger, "an integer"},
    {"boolean", kTypeBoolean, "a boolean"},
    {"object", kTypeObject, "an object"},
    {"array", kTypeArray, "an array"},
    {"null", kTypeNull, "null"},
};

uint8_t TypeBit(absl::string_view name) {
  for (const TypeName& t : kTypeNames) {
    if (t.name == name) {
      return t.bit;
    }
  }
  return 0;
}

// ---- Values ---------------------------------------------------------------------------------

// IsIntegral: 2020-12 counts any number with a zero fractional part as an integer (3.0 too).
bool IsIntegral(const JsonValue& v) {
  if (v.IsInt64() || v.IsUint64()) {
    return true;
  }
  const double d = v.GetDouble();
  return std::isfinite(d) && d == std::trunc(d);
}

uint8_t InstanceTypes(const JsonValue& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return kTypeNull;
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return kTypeBoolean;
    case rapidjson::kObjectType:
      return kTypeObject;
    case rapidjson::kArrayType:
      return kTypeArray;
    case rapidjson::kStringType:
      return kTypeString;
    case rapidjson::kNumberType:
      return IsIntegral(v) ? (kTypeNumber | kTypeInteger) : kTypeNumber;
  }
  return 0;
}

// CompareNumbers orders two numbers exactly when both are 64-bit integers, else as doubles.
int CompareNumbers(const JsonValue& a, const JsonValue& b) {
  auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (a.IsInt64() && b.IsInt64()) {
    return sign(a.GetInt64(), b.GetInt64());
  }
  if (a.IsUint64() && b.IsUint64()) {
    return sign(a.GetUint64(), b.GetUint64());
  }
  // One is an int64 that is not a uint64 (negative), the other a uint64 above INT64_MAX.
  if (a.IsInt64() && b.IsUint64()) {
    return -1;
  }
  if (a.IsUint64() && b.IsInt64()) {
    return 1;
  }
  return sign(a.GetDouble(), b.GetDouble());
}

// Equal is JSON Schema equality: numbers by value (1 == 1.0), objects regardless of order.
// Recursion is bounded by the depth of the shallower value.
bool Equal(const JsonValue& a, const JsonValue& b) {
  if (a.IsNumber() && b.IsNumber()) {
    return CompareNumbers(a, b) == 0;
  }
  if (a.GetType() != b.GetType()) {
    return false;
  }
  switch (a.GetType()) {
    case rapidjson::kStringType:
      return AsStringView(a) == AsStringView(b);
    case rapidjson::kArrayType:
      if (a.Size() != b.Size()) {
        return false;
      }
      for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
        if (!Equal(a[i], b[i])) {
          return false;
        }
      }
      return true;
    case rapidjson::kObjectType:
      if (a.MemberCount() != b.MemberCount()) {
        return false;
      }
      for (auto m = a.MemberBegin(); m != a.MemberEnd(); ++m) {
        const JsonValue* other = FindMember(b, AsStringView(m->name));
        if (other == nullptr || !Equal(m->value, *other)) {
          return false;
        }
      }
      return true;
    default:
      return true;  // null, or the same boolean (true and false are distinct types)
  }
}

// Hash is consistent with Equal: numbers hash as doubles, object members order-independently.
size_t Hash(const JsonValue& v) {
  switch (v.GetType()) {
    case rapidjson::kNumberType: {
      double d = v.GetDouble();
      if (d == 0) {
        d = 0;  // -0.0 == 0.0
      }
      return absl::Hash<std::pair<int, double>>()({1, d});
    }
    case rapidjson::kStringType:
      return absl::Hash<std::pair<int, absl::string_view>>()({2, AsStringView(v)});
    case rapidjson::kArrayType: {
      size_t h = absl::Hash<std::pair<int, size_t>>()({3, v.Size()});
      for (const JsonValue& e : v.GetArray()) {
        h = absl::Hash<std::pair<size_t, size_t>>()({h, Hash(e)});
      }
      return h;
    }
    case rapidjson::kObjectType: {
      size_t h = absl::Hash<std::pair<int, size_t>>()({4, v.MemberCount()});
      for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
        h += absl::Hash<std::pair<absl::string_view, size_t>>()(
            {AsStringView(m->name), Hash(m->value)});
      }
      return h;
    }
    default:
      return absl::Hash<int>()(static_cast<int>(v.GetType()) + 5);
  }
}

bool IsMultipleOf(const JsonValue& x, const JsonValue& m) {
  if (x.IsInt64() && m.IsInt64()) {  // m > 0, checked by Compile
    return x.GetInt64() % m.GetInt64() == 0;
  }
  if (x.IsUint64() && m.IsUint64()) {
    return x.GetUint64() % m.GetUint64() == 0;
  }
  // Doubles: 0.3 / 0.1 is 2.9999999999999996, so allow a few ulps of rounding in the quotient.
  const double q = x.GetDouble() / m.GetDouble();
  if (!std::isfinite(q)) {
    return false;
  }
  return std::fabs(q - std::round(q)) <= std::fabs(q) * 4 * DBL_EPSILON;
}

// ExceedsDepth reports whether `v` nests containers more than `remaining` levels deep.
bool ExceedsDepth(const JsonValue& v, int remaining) {
  if (v.IsObject()) {
    if (remaining == 0) {
      return true;
    }
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      if (ExceedsDepth(m->value, remaining - 1)) {
        return true;
      }
    }
  } else if (v.IsArray()) {
    if (remaining == 0) {
      return true;
    }
    for (const JsonValue& e : v.GetArray()) {
      if (ExceedsDepth(e, remaining - 1)) {
        return true;
      }
    }
  }
  return false;
}

// ---- Text -----------------------------------------------------------------------------------

size_t CountCodePoints(absl::string_view s) {
  size_t n = 0;
  for (char c : s) {
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }
  return n;
}

// ToWide decodes UTF-8 to UTF-32; each byte of a malformed sequence becomes U+FFFD.
std::wstring ToWide(absl::string_view s) {
  std::wstring out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (b < 0x80) {
      len = 1;
      cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const unsigned char c = static_cast<unsigned char>(s[i + k]);
      ok = (c & 0xC0) == 0x80;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (!ok) {
      out.push_back(static_cast<wchar_t>(0xFFFD));
      ++i;
      continue;
    }
    out.push_back(static_cast<wchar_t>(cp));
    i += len;
  }
  return out;
}

// Truncate cuts `s` to kMaxSnippet bytes at a code point boundary, marking the cut with "...".
std::string Truncate(std::string s) {
  if (s.size() <= kMaxSnippet) {
    return s;
  }
  size_t cut = kMaxSnippet;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  s.resize(cut);
  s += "...";
  return s;
}

// Snippet is the (truncated) JSON text of a value, for messages.
std::string Snippet(const JsonValue& v) { return Truncate(SerializeJson(v)); }

// Quote puts a name in single quotes for messages, escaping control characters.
std::string Quote(absl::string_view s) {
  std::string out;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || c == '\'' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += c == '\''   ? std::string("\\'")
             : c == '\\' ? std::string("\\\\")
                         : std::string({'\\', 'x', kHex[u >> 4], kHex[u & 15]});
    } else {
      out += c;
    }
  }
  return absl::StrCat("'", Truncate(std::move(out)), "'");
}

// ---- Patterns -------------------------------------------------------------------------------

// PatternWithinLimits estimates the size of the automaton std::regex builds (each atom counts
// one unit, multiplied by enclosing {n,m} counts) and the group nesting. libstdc++ compiles
// and matches recursively over that automaton: `(?:a?){9000}` takes seconds to compile and
// overflows a 1 MiB stack when matched, deep parentheses overflow the compiler. Real-world
// patterns (emails, UUIDs, dates, `[a-z0-9-]{1,63}`) stay well below the limits.
bool PatternWithinLimits(const std::wstring& p) {
  constexpr uint64_t kCap = kMaxPatternUnits + 1;  // saturate: only "over the limit" matters
  std::vector<uint64_t> groups{0};
  uint64_t last = 0;  // units of the last atom, which a following {n,m} multiplies
  auto add = [&](uint64_t units) {
    groups.back() = std::min(groups.back() + units, kCap);
    last = units;
  };
  size_t i = 0;
  while (i < p.size()) {
    const wchar_t c = p[i];
    if (c == L'\\') {
      add(1);
      i += 2;
    } else if (c == L'[') {
      ++i;
      while (i < p.size() && p[i] != L']') {
        i += p[i] == L'\\' ? 2 : 1;
      }
      ++i;
      add(1);
    } else if (c == L'(') {
      if (groups.size() > kMaxPatternNesting) {
        return false;
      }
      groups.push_back(0);
      ++i;
    } else if (c == L')') {
      ++i;
      if (groups.size() > 1) {
        const uint64_t units = groups.back() + 1;
        groups.pop_back();
        add(units);
      }
    } else if (c == L'{') {
      // {n}, {n,} or {n,m}; anything else is a literal brace.
      size_t j = i + 1;
      uint64_t count = 0;
      uint64_t value = 0;
      bool digits = false;
      bool valid = true;
      for (; j < p.size() && p[j] != L'}'; ++j) {
        if (p[j] >= L'0' && p[j] <= L'9') {
          value = std::min<uint64_t>(value * 10 + static_cast<uint64_t>(p[j] - L'0'), kCap);
          digits = true;
        } else if (p[j] == L',' && digits) {
          count = std::max(count, value);
          value = 0;
        } else {
          valid = false;
          break;
        }
      }
      if (valid && digits && j < p.size()) {
        count = std::max({count, value, uint64_t{1}});
        const uint64_t grown = std::min(last * count, kCap);
        groups.back() = std::min(groups.back() + (grown - last), kCap);
        last = grown;
        i = j + 1;
      } else {
        add(1);
        ++i;
      }
    } else {
      add(1);
      ++i;
    }
    if (groups.back() >= kCap) {
      return false;
    }
  }
  uint64_t total = 0;
  for (uint64_t g : groups) {
    total += g;
  }
  return total <= kMaxPatternUnits;
}

absl::Status Malformed(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("invalid JSON Schema at ", path, ": ", problem));
}

absl::StatusOr<Pattern> CompilePattern(absl::string_view source, absl::string_view path) {
  const std::wstring wide = ToWide(source);
  if (!PatternWithinLimits(wide)) {
    return Malformed(path, absl::StrCat("regular expression ", Quote(source),
                                        " is too complex (too many repetitions or groups)"));
  }
  Pattern pattern;
  pattern.source = std::string(source);
  try {
    // Compiled alone first: this checks the syntax, and proves the pattern balanced so that
    // wrapping it in a group below cannot change its meaning.
    std::wregex alone(wide, kRegexFlags);
    pattern.whole.assign(L"[\\s\\S]*(?:" + wide + L")[\\s\\S]*", kRegexFlags);
  } catch (const std::exception& e) {
    return Malformed(path,
                     absl::StrCat("invalid regular expression ", Quote(source), ": ", e.what()));
  }
  return pattern;
}

// ---- Compiler -------------------------------------------------------------------------------

enum class Dialect { k2020_12, k2019_09, kDraft07 };

std::optional<Dialect> ParseDialect(absl::string_view uri) {
  absl::ConsumeSuffix(&uri, "#");
  if (!absl::ConsumePrefix(&uri, "https://")) {
    absl::ConsumePrefix(&uri, "http://");
  }
  if (uri == "json-schema.org/draft/2020-12/schema") {
    return Dialect::k2020_12;
  }
  if (uri == "json-schema.org/draft/2019-09/schema") {
    return Dialect::k2019_09;
  }
  if (uri == "json-schema.org/draft-07/schema") {
    return Dialect::kDraft07;
  }
  return std::nullopt;
}

// SchemaPath appends a JSON pointer token (escaping ~ and /) to a schema path.
std::string SchemaPath(absl::string_view path, absl::string_view token) {
  std::string out = absl::StrCat(path, "/");
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

absl::StatusOr<uint64_t> NonNegativeInteger(const JsonValue& v, absl::string_view path) {
  if (v.IsUint64()) {
    return v.GetUint64();
  }
  if (v.IsNumber() && IsIntegral(v) && v.GetDouble() >= 0) {
    const double d = v.GetDouble();
    return d >= 18446744073709551615.0 ? UINT64_MAX : static_cast<uint64_t>(d);
  }
  return Malformed(path, "must be a non-negative integer");
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

class Compiler {
 public:
  explicit Compiler(CompiledSchema& out) : out_(out) {}

  absl::Status Run(const JsonValue& root) {
    root_ = &root;
    if (const JsonValue* uri = FindMember(root, "$schema")) {
      if (!uri->IsString()) {
        return Malformed("#/$schema", "must be a string");
      }
      std::optional<Dialect> dialect = ParseDialect(AsStringView(*uri));
      if (!dialect.has_value()) {
        return absl::UnimplementedError(
            absl::StrCat("unsupported JSON Schema dialect ", Quote(AsStringView(*uri)),
                         " in $schema; supported: 2020-12 (the default), 2019-09 and draft-07"));
      }
      dialect_ = *dialect;
    }
    if (const JsonValue* id = FindMember(root, "$id"); id != nullptr && id->IsString()) {
      absl::string_view base = AsStringView(*id);
      base_uri_ = std::string(base.substr(0, base.find('#')));
    }
    MCPGW_RETURN_IF_ERROR(Compile(root, "#", 0, false).status());
    MCPGW_RETURN_IF_ERROR(ResolveRefs());
    return CheckCycles();
  }

 private:
  struct PendingRef {
    int node;
    std::string fragment;  // after '#', still percent-encoded
    std::string path;      // of the $ref keyword
  };

  absl::StatusOr<int> Compile(const JsonValue& schema, const std::string& path, int depth,
                              bool embedded) {
    if (auto it = memo_.find(&schema); it != memo_.end()) {
      return it->second;
    }
    if (depth > kMaxJsonSchemaDepth) {
      return Malformed(path,
                       absl::StrCat("schemas nest deeper than ", kMaxJsonSchemaDepth, " levels"));
    }
    if (!schema.IsObject() && !schema.IsBool()) {
      return Malformed(path, "a schema must be an object or a boolean");
    }
    const int index = static_cast<int>(out_.nodes.size());
    out_.nodes.emplace_back();
    paths_.push_back(path);
    memo_.emplace(&schema, index);
    Node node;
    if (schema.IsBool()) {
      node.kind = schema.GetBool() ? Node::Kind::kTrue : Node::Kind::kFalse;
    } else {
      MCPGW_RETURN_IF_ERROR(CompileKeywords(schema, path, depth, embedded, index, node));
    }
    out_.nodes[index] = std::move(node);
    return index;
  }

  absl::StatusOr<std::vector<int>> CompileArray(const JsonValue& v, const std::string& path,
                                                int depth, bool embedded) {
    if (!v.IsArray() || v.Empty()) {
      return Malformed(path, "must be a non-empty array of schemas");
    }
    std::vector<int> out;
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      MCPGW_ASSIGN_OR_RETURN(int child,
                             Compile(v[i], absl::StrCat(path, "/", i), depth + 1, embedded));
      out.push_back(child);
    }
    return out;
  }

  absl::Status AddAnchor(const JsonValue& v, absl::string_view name, const std::string& path) {
    if (name.empty()) {
      return Malformed(path, "an anchor must not be empty");
    }
    if (!anchors_.emplace(std::string(name), &v).second) {
      return Malformed(path, absl::StrCat("duplicate anchor ", Quote(name)));
    }
    return absl::OkStatus();
  }

  absl::Status CompileKeywords(const JsonValue& s, const std::string& path, int depth,
                               bool embedded, int index, Node& node) {
    const bool is_root = &s == root_;
    const bool has_ref = FindMember(s, "$ref") != nullptr;
    // A nested $id (other than draft-07's "#anchor" form) starts an embedded resource with its
    // own base URI; $refs inside it would resolve against that base, which is not supported.
    if (const JsonValue* id = FindMember(s, "$id"); id != nullptr && !is_root) {
      if (!id->IsString()) {
        return Malformed(SchemaPath(path, "$id"), "must be a string");
      }
      absl::string_view id_text = AsStringView(*id);
      if (absl::StartsWith(id_text, "#")) {
        MCPGW_RETURN_IF_ERROR(AddAnchor(s, id_text.substr(1), SchemaPath(path, "$id")));
      } else {
        embedded = true;
      }
    }
    const JsonValue* items = nullptr;
    const JsonValue* prefix_items = nullptr;
    const JsonValue* additional_items = nullptr;
    auto child = [&](const JsonValue& v, const std::string& at) {
      return Compile(v, at, depth + 1, embedded);
    };
    for (auto m = s.MemberBegin(); m != s.MemberEnd(); ++m) {
      const absl::string_view key = AsStringView(m->name);
      const JsonValue& v = m->value;
      // draft-07: "All other properties in a "$ref" object MUST be ignored." Definitions are
      // still compiled: they hold the targets of this and other $refs, and their anchors.
      if (dialect_ == Dialect::kDraft07 && has_ref && key != "$ref" && key != "definitions" &&
          key != "$defs") {
        continue;
      }
      const std::string at = SchemaPath(path, key);
      if (key == "type") {
        if (v.IsString()) {
          node.types = TypeBit(AsStringView(v));
          if (node.types == 0) {
            return Malformed(at, absl::StrCat("unknown type ", Quote(AsStringView(v)),
                                              "; expected string, number, integer, boolean, "
                                              "object, array or null"));
          }
        } else if (v.IsArray() && !v.Empty()) {
          for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
            const uint8_t bit = v[i].IsString() ? TypeBit(AsStringView(v[i])) : 0;
            if (bit == 0) {
              return Malformed(absl::StrCat(at, "/", i),
                               "must be one of string, number, integer, boolean, object, "
                               "array, null");
            }
            node.types |= bit;
          }
        } else {
          return Malformed(at, "must be a type name or a non-empty array of type names");
        }
      } else if (key == "enum") {
        if (!v.IsArray()) {
          return Malformed(at, "must be an array");
        }
        node.enum_values = &v;
      } else if (key == "const") {
        node.const_value = &v;
      } else if (key == "properties" || key == "patternProperties" || key == "$defs" ||
                 key == "definitions") {
        if (!v.IsObject()) {
          return Malformed(at, "must be an object whose values are schemas");
        }
        for (auto p = v.MemberBegin(); p != v.MemberEnd(); ++p) {
          const absl::string_view name = AsStringView(p->name);
          const std::string sub = SchemaPath(at, name);
          MCPGW_ASSIGN_OR_RETURN(int c, child(p->value, sub));
          if (key == "properties") {
            node.properties.try_emplace(name, c);
          } else if (key == "patternProperties") {
            MCPGW_ASSIGN_OR_RETURN(Pattern pattern, CompilePattern(name, sub));
            node.pattern_properties.emplace_back(std::move(pattern), c);
          }  // $defs and definitions: compiled to be checked, used through $ref
        }
      } else if (key == "additionalProperties") {
        MCPGW_ASSIGN_OR_RETURN(node.additional_properties, child(v, at));
      } else if (key == "propertyNames") {
        MCPGW_ASSIGN_OR_RETURN(node.property_names, child(v, at));
      } else if (key == "not") {
        MCPGW_ASSIGN_OR_RETURN(node.not_schema, child(v, at));
      } else if (key == "if") {
        MCPGW_ASSIGN_OR_RETURN(node.if_schema, child(v, at));
      } else if (key == "then") {
        MCPGW_ASSIGN_OR_RETURN(node.then_schema, child(v, at));
      } else if (key == "else") {
        MCPGW_ASSIGN_OR_RETURN(node.else_schema, child(v, at));
      } else if (key == "allOf") {
        MCPGW_ASSIGN_OR_RETURN(node.all_of, CompileArray(v, at, depth, embedded));
      } else if (key == "anyOf") {
        MCPGW_ASSIGN_OR_RETURN(node.any_of, CompileArray(v, at, depth, embedded));
      } else if (key == "oneOf") {
        MCPGW_ASSIGN_OR_RETURN(node.one_of, CompileArray(v, at, depth, embedded));
      } else if (key == "required") {
        if (!v.IsArray()) {
          return Malformed(at, "must be an array of property names");
        }
        for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
          if (!v[i].IsString()) {
            return Malformed(absl::StrCat(at, "/", i), "must be a string");
          }
          node.required.emplace_back(AsStringView(v[i]));
        }
      } else if (key == "minProperties") {
        MCPGW_ASSIGN_OR_RETURN(node.min_properties, NonNegativeInteger(v, at));
      } else if (key == "maxProperties") {
        MCPGW_ASSIGN_OR_RETURN(node.max_properties, NonNegativeInteger(v, at));
      } else if (key == "minItems") {
        MCPGW_ASSIGN_OR_RETURN(node.min_items, NonNegativeInteger(v, at));
      } else if (key == "maxItems") {
        MCPGW_ASSIGN_OR_RETURN(node.max_items, NonNegativeInteger(v, at));
      } else if (key == "minLength") {
        MCPGW_ASSIGN_OR_RETURN(node.min_length, NonNegativeInteger(v, at));
      } else if (key == "maxLength") {
        MCPGW_ASSIGN_OR_RETURN(node.max_length, NonNegativeInteger(v, at));
      } else if (key == "items") {
        items = &v;
      } else if (key == "prefixItems") {
        prefix_items = &v;
      } else if (key == "additionalItems") {
        additional_items = &v;
      } else if (key == "uniqueItems") {
        if (!v.IsBool()) {
          return Malformed(at, "must be a boolean");
        }
        node.unique_items = v.GetBool();
      } else if (key == "pattern") {
        if (!v.IsString()) {
          return Malformed(at, "must be a string");
        }
        MCPGW_ASSIGN_OR_RETURN(node.pattern, CompilePattern(AsStringView(v), at));
      } else if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" ||
                 key == "exclusiveMaximum" || key == "multipleOf") {
        if (!v.IsNumber()) {
          return Malformed(at, "must be a number");
        }
        if (key == "minimum") {
          node.minimum = &v;
        } else if (key == "maximum") {
          node.maximum = &v;
        } else if (key == "exclusiveMinimum") {
          node.exclusive_minimum = &v;
        } else if (key == "exclusiveMaximum") {
          node.exclusive_maximum = &v;
        } else {
          if (!(v.GetDouble() > 0)) {
            return Malformed(at, "must be greater than 0");
          }
          node.multiple_of = &v;
        }
      } else if (key == "$ref") {
        if (!v.IsString()) {
          return Malformed(at, "must be a string");
        }
        MCPGW_RETURN_IF_ERROR(AddRef(AsStringView(v), at, embedded, index));
      } else if (key == "$dynamicRef" || key == "$recursiveRef") {
        return absl::UnimplementedError(
            absl::StrCat("JSON Schema at ", at, ": ", key, " is not supported"));
      } else if (key == "$anchor" || key == "$dynamicAnchor") {
        if (!v.IsString()) {
          return Malformed(at, "must be a string");
        }
        MCPGW_RETURN_IF_ERROR(AddAnchor(s, AsStringView(v), at));
      }
      // Anything else ($schema, $id, $comment, format, title, description, default, examples,
      // unknown keywords) is an annotation.
    }

    if (prefix_items != nullptr) {
      MCPGW_ASSIGN_OR_RETURN(
          node.prefix_items,
          CompileArray(*prefix_items, SchemaPath(path, "prefixItems"), depth, embedded));
      if (items != nullptr) {
        if (items->IsArray()) {
          return Malformed(SchemaPath(path, "items"),
                           "must be a schema when prefixItems is present");
        }
        MCPGW_ASSIGN_OR_RETURN(node.items, child(*items, SchemaPath(path, "items")));
      }
    } else if (items != nullptr && items->IsArray()) {
      // draft-07 tuple form, accepted whatever the dialect: items[i] checks element i and
      // additionalItems the rest.
      MCPGW_ASSIGN_OR_RETURN(node.prefix_items,
                             CompileArray(*items, SchemaPath(path, "items"), depth, embedded));
      if (additional_items != nullptr) {
        MCPGW_ASSIGN_OR_RETURN(node.items,
                               child(*additional_items, SchemaPath(path, "additionalItems")));
      }
    } else if (items != nullptr) {
      MCPGW_ASSIGN_OR_RETURN(node.items, child(*items, SchemaPath(path, "items")));
    }
    return absl::OkStatus();
  }

  absl::Status AddRef(absl::string_view ref, const std::string& path, bool embedded, int index) {
    absl::string_view fragment;
    if (absl::StartsWith(ref, "#")) {
      fragment = ref.substr(1);
    } else if (!base_uri_.empty() && absl::StartsWith(ref, base_uri_) &&
               (ref.size() == base_uri_.size() || ref[base_uri_.size()] == '#')) {
      fragment = ref.substr(std::min(ref.size(), base_uri_.size() + 1));
    } else {
      return absl::UnimplementedError(
          absl::StrCat("JSON Schema at ", path, ": $ref ", Quote(ref),
                       " points outside this schema; remote references are never fetched"));
    }
    if (embedded) {
      return absl::UnimplementedError(
          absl::StrCat("JSON Schema at ", path,
                       ": $ref inside an embedded schema resource (a nested $id) "
                       "is not supported"));
    }
    refs_.push_back({index, std::string(fragment), path});
    return absl::OkStatus();
  }

  // ResolvePointer follows a JSON pointer (in URI-fragment form) from the root.
  absl::StatusOr<const JsonValue*> ResolvePointer(const PendingRef& ref) {
    const std::string& f = ref.fragment;
    std::string pointer;
    for (size_t i = 0; i < f.size(); ++i) {
      if (f[i] != '%') {
        pointer += f[i];
        continue;
      }
      const int hi = i + 2 < f.size() ? HexDigit(f[i + 1]) : -1;
      const int lo = hi >= 0 ? HexDigit(f[i + 2]) : -1;
      if (lo < 0) {
        return Malformed(ref.path, "bad percent-encoding in $ref");
      }
      pointer += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    auto missing = [&] {
      return Malformed(ref.path, absl::StrCat("$ref ", Quote(absl::StrCat("#", f)),
                                              " points to nothing in this schema"));
    };
    const JsonValue* at = root_;
    size_t pos = 1;  // past the leading '/'
    while (pos <= pointer.size()) {
      size_t end = pointer.find('/', pos);
      if (end == std::string::npos) {
        end = pointer.size();
      }
      std::string token;
      for (size_t i = pos; i < end; ++i) {
        if (pointer[i] != '~') {
          token += pointer[i];
        } else if (i + 1 < end && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
          token += pointer[++i] == '0' ? '~' : '/';
        } else {
          return Malformed(ref.path, "bad ~ escape in $ref (use ~0 for ~ and ~1 for /)");
        }
      }
      if (at->IsObject()) {
        at = FindMember(*at, token);
      } else if (at->IsArray()) {
        uint32_t i = 0;
        const bool is_index =
            !token.empty() && (token == "0" || token[0] != '0') &&
            std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
            absl::SimpleAtoi(token, &i);
        at = is_index && i < at->Size() ? &(*at)[static_cast<rapidjson::SizeType>(i)] : nullptr;
      } else {
        at = nullptr;
      }
      if (at == nullptr) {
        return missing();
      }
      pos = end + 1;
    }
    return at;
  }

  absl::Status ResolveRefs() {
    // Compiling a target may add refs; refs_ grows while this loop runs.
    for (size_t i = 0; i < refs_.size(); ++i) {
      const PendingRef ref = refs_[i];
      const JsonValue* target = root_;
      if (!ref.fragment.empty() && ref.fragment[0] == '/') {
        MCPGW_ASSIGN_OR_RETURN(target, ResolvePointer(ref));
      } else if (!ref.fragment.empty()) {
        auto it = anchors_.find(ref.fragment);
        if (it == anchors_.end()) {
          return Malformed(ref.path, absl::StrCat("$ref ", Quote(absl::StrCat("#", ref.fragment)),
                                                  " names no $anchor in this schema"));
        }
        target = it->second;
      }
      MCPGW_ASSIGN_OR_RETURN(int node, Compile(*target, absl::StrCat("#", ref.fragment), 0, false));
      out_.nodes[ref.node].ref = node;
    }
    return absl::OkStatus();
  }

  // CheckCycles refuses a cycle of subschemas applied to the same value ($ref, allOf, anyOf,
  // oneOf, not, if/then/else): evaluation would recurse without end. Cycles through
  // properties or items are fine; they descend into the value. Iterative: refs can chain
  // arbitrarily long.
  absl::Status CheckCycles() {
    const size_t n = out_.nodes.size();
    std::vector<std::vector<int>> edges(n);
    for (size_t i = 0; i < n; ++i) {
      const Node& node = out_.nodes[i];
      std::vector<int>& e = edges[i];
      for (int c :
           {node.ref, node.not_schema, node.if_schema, node.then_schema, node.else_schema}) {
        if (c >= 0) {
          e.push_back(c);
        }
      }
      e.insert(e.end(), node.all_of.begin(), node.all_of.end());
      e.insert(e.end(), node.any_of.begin(), node.any_of.end());
      e.insert(e.end(), node.one_of.begin(), node.one_of.end());
    }
    enum : uint8_t { kUnvisited, kOnStack, kDone };
    std::vector<uint8_t> state(n, kUnvisited);
    std::vector<std::pair<int, size_t>> stack;  // node, next edge
    for (size_t start = 0; start < n; ++start) {
      if (state[start] != kUnvisited) {
        continue;
      }
      stack.emplace_back(static_cast<int>(start), 0);
      state[start] = kOnStack;
      while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next == edges[node].size()) {
          state[node] = kDone;
          stack.pop_back();
          continue;
        }
        const int to = edges[node][next++];
        if (state[to] == kOnStack) {
          return Malformed(paths_[node],
                           absl::StrCat("$ref cycle: ", paths_[to],
                                        " applies to the same value again without descending "
                                        "into it, so validation could never end"));
        }
        if (state[to] == kUnvisited) {
          state[to] = kOnStack;
          stack.emplace_back(to, 0);
        }
      }
    }
    return absl::OkStatus();
  }

  CompiledSchema& out_;
  const JsonValue* root_ = nullptr;
  Dialect dialect_ = Dialect::k2020_12;
  std::string base_uri_;  // the root $id without fragment
  absl::flat_hash_map<const JsonValue*, int> memo_;
  absl::flat_hash_map<std::string, const JsonValue*> anchors_;
  std::vector<PendingRef> refs_;
  std::vector<std::string> paths_;  // schema path of each node
};

// ---- Validator ------------------------------------------------------------------------------

struct Errors {
  std::vector<std::string> messages;
  size_t cap;
  bool full() const { return messages.size() >= cap; }
};

bool IsIdentifier(absl::string_view key) {
  if (key.empty() || (key[0] >= '0' && key[0] <= '9')) {
    return false;
  }
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || c == '-';
  });
}

// One validation. Eval returns whether the value is valid. When `e` is null nobody wants the
// problems, and evaluation stops at the first; otherwise it records each (with the path) until
// `e` is full.
class Validator {
 public:
  Validator(const CompiledSchema& schema, absl::string_view root_name)
      : nodes_(schema.nodes), root_name_(root_name) {}

  const absl::Status& fatal() const { return fatal_; }

  bool Eval(int index, const JsonValue& v, Errors* e) {
    if (!fatal_.ok()) {
      return false;
    }
    if (++steps_ > kMaxSteps) {
      fatal_ = absl::ResourceExhaustedError(
          absl::StrCat(Path(), ": validation takes more than ", kMaxSteps,
                       " steps (anyOf/oneOf over a recursive $ref?); the value cannot be checked"));
      return false;
    }
    if (eval_depth_ >= kMaxEvalDepth) {
      fatal_ = absl::ResourceExhaustedError(
          absl::StrCat(Path(), ": the schema nests more than ", kMaxEvalDepth, " subschemas here"));
      return false;
    }
    ++eval_depth_;
    const bool ok = EvalNode(nodes_[index], v, e);
    --eval_depth_;
    return ok;
  }

  std::string Path() const {
    std::string out(root_name_);
    for (const Segment& s : path_) {
      if (s.is_index) {
        absl::StrAppend(&out, "[", s.index, "]");
      } else if (IsIdentifier(s.key)) {
        absl::StrAppend(&out, out.empty() ? "" : ".", s.key);
      } else {
        JsonValue key(rapidjson::StringRef(s.key.data(), s.key.size()));
        absl::StrAppend(&out, "[", SerializeJson(key), "]");
      }
    }
    return out;
  }

 private:
  struct Segment {
    absl::string_view key;
    size_t index;
    bool is_index;
  };
  // Scope adds one step to the value's path for its lifetime.
  class Scope {
   public:
    Scope(Validator& v, absl::string_view key) : v_(v) { v_.path_.push_back({key, 0, false}); }
    Scope(Validator& v, size_t index) : v_(v) { v_.path_.push_back({{}, index, true}); }
    ~Scope() { v_.path_.pop_back(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Validator& v_;
  };

  // Report records a problem at the current path; `message` runs only if someone listens.
  // Messages are built out of line: inlined into the recursive Eval* functions, their string
  // temporaries would multiply the stack each nesting level takes.
  void Report(Errors* e, absl::FunctionRef<std::string()> message) {
    if (e != nullptr && !e->full()) {
      AddMessage(*e, message);
    }
  }
  ABSL_ATTRIBUTE_NOINLINE void AddMessage(Errors& e, absl::FunctionRef<std::string()> message) {
    e.messages.push_back(absl::StrCat(Path(), ": ", message()));
  }
  // Stop says whether to give up after a problem: nobody listens, or enough were collected.
  bool Stop(Errors* e) const { return e == nullptr || e->full() || !fatal_.ok(); }

  ABSL_ATTRIBUTE_NOINLINE bool Matches(const Pattern& p, absl::string_view s) {
    try {
      return std::regex_match(ToWide(s), p.whole);
    } catch (const std::exception& ex) {
      fatal_ = absl::ResourceExhaustedError(
          absl::StrCat(Path(), ": matching pattern ", Quote(p.source), " failed: ", ex.what()));
      return false;
    }
  }

  // Explain re-runs failed alternatives, collecting their first problem each, for anyOf and
  // oneOf messages: " ([0] arguments.phone: ...; [1] arguments.email: ...)". Explanations do
  // not nest, which keeps the re-runs to one extra pass.
  ABSL_ATTRIBUTE_NOINLINE std::string Explain(const std::vector<int>& branches,
                                              const JsonValue& v) {
    if (explaining_) {
      return "";
    }
    explaining_ = true;
    std::vector<std::string> parts;
    for (size_t i = 0; i < branches.size() && i < kMaxExplainedBranches; ++i) {
      Errors sub{{}, 1};
      if (!Eval(branches[i], v, &sub) && !sub.messages.empty()) {
        parts.push_back(absl::StrCat("[", i, "] ", sub.messages.front()));
      }
    }
    explaining_ = false;
    if (parts.empty()) {
      return "";
    }
    if (branches.size() > kMaxExplainedBranches) {
      parts.push_back("...");
    }
    return absl::StrCat(" (", absl::StrJoin(parts, "; "), ")");
  }

  static std::string TypeList(uint8_t mask) {
    std::vector<absl::string_view> names;
    for (const TypeName& t : kTypeNames) {
      if (mask & t.bit) {
        names.push_back(t.phrase);
      }
    }
    if (names.size() <= 1) {
      return absl::StrJoin(names, "");
    }
    return absl::StrCat(absl::StrJoin(names.begin(), names.end() - 1, ", "), " or ", names.back());
  }

  static absl::string_view Describe(const JsonValue& v) {
    const uint8_t t = InstanceTypes(v);
    for (const TypeName& name : kTypeNames) {
      if (name.bit != kTypeNumber && (t & name.bit)) {
        return name.phrase;  // an integral number is described as an integer
      }
    }
    return "a number";
  }

  bool EvalNode(const Node& n, const JsonValue& v, Errors* e) {
    if (n.kind == Node::Kind::kTrue) {
      return true;
    }
    if (n.kind == Node::Kind::kFalse) {
      Report(e, [] { return std::string("no value is allowed here (the schema is false)"); });
      return false;
    }
    bool ok = true;
    if ((n.types != 0 || n.enum_values != nullptr || n.const_value != nullptr) &&
        !EvalValueKeywords(n, v, e)) {
      ok = false;
      if (Stop(e)) {
        return false;
      }
    }
    bool type_ok = true;
    if (v.IsObject()) {
      type_ok = EvalObject(n, v, e);
    } else if (v.IsArray()) {
      type_ok = EvalArray(n, v, e);
    } else if (v.IsString()) {
      type_ok = EvalString(n, v, e);
    } else if (v.IsNumber()) {
      type_ok = EvalNumber(n, v, e);
    }
    if (!type_ok) {
      ok = false;
      if (Stop(e)) {
        return false;
      }
    }
    if (!EvalApplicators(n, v, e)) {
      ok = false;
    }
    return ok;
  }

  // EvalValueKeywords checks type, enum and const.
  ABSL_ATTRIBUTE_NOINLINE bool EvalValueKeywords(const Node& n, const JsonValue& v, Errors* e) {
    bool ok = true;
    if (n.types != 0 && (InstanceTypes(v) & n.types) == 0) {
      Report(e, [&] { return absl::StrCat("must be ", TypeList(n.types), ", got ", Describe(v)); });
      ok = false;
      if (Stop(e)) {
        return false;
      }
    }
    if (n.enum_values != nullptr) {
      const JsonValue& values = *n.enum_values;
      if (std::none_of(values.Begin(), values.End(),
                       [&](const JsonValue& x) { return Equal(v, x); })) {
        Report(e, [&] {
          return absl::StrCat("must be one of ", Snippet(values), ", got ", Snippet(v));
        });
        ok = false;
        if (Stop(e)) {
          return false;
        }
      }
    }
    if (n.const_value != nullptr && !Equal(v, *n.const_value)) {
      Report(e, [&] {
        return absl::StrCat("must be ", Snippet(*n.const_value), ", got ", Snippet(v));
      });
      ok = false;
      if (Stop(e)) {
        return false;
      }
    }
    return ok;
  }

  bool EvalApplicators(const Node& n, const JsonValue& v, Errors* e) {
    bool ok = true;
    auto apply = [&](int index) {
      if (!Eval(index, v, e)) {
        ok = false;
      }
      return !ok && Stop(e);
    };
    if (n.ref >= 0 && apply(n.ref)) {
      return false;
    }
    for (int index : n.all_of) {
      if (apply(index)) {
        return false;
      }
    }
    if (!n.any_of.empty()) {
      bool any = false;
      for (int index : n.any_of) {
        if (Eval(index, v, nullptr)) {
          any = true;
          break;
        }
      }
      if (!any) {
        Report(e, [&] {
          return absl::StrCat("must match at least one schema in anyOf", Explain(n.any_of, v));
        });
        ok = false;
        if (Stop(e)) {
          return false;
        }
      }
    }
    if (!n.one_of.empty()) {
      std::vector<size_t> matched;
      for (size_t i = 0; i < n.one_of.size() && matched.size() < 2; ++i) {
        if (Eval(n.one_of[i], v, nullptr)) {
          matched.push_back(i);
        }
      }
      if (matched.size() != 1) {
        Report(e, [&] {
          return matched.empty()
                     ? absl::StrCat("must match exactly one schema in oneOf, but matches none",
                                    Explain(n.one_of, v))
                     : absl::StrCat("must match exactly one schema in oneOf, but matches [",
                                    matched[0], "] and [", matched[1], "]");
        });
        ok = false;
        if (Stop(e)) {
          return false;
        }
      }
    }
    if (n.not_schema >= 0 && Eval(n.not_schema, v, nullptr)) {
      Report(e, [] { return std::string("must not match the schema in 'not'"); });
      ok = false;
      if (Stop(e)) {
        return false;
      }
    }
    if (n.if_schema >= 0 && fatal_.ok()) {
      const int branch = Eval(n.if_schema, v, nullptr) ? n.then_schema : n.else_schema;
      if (branch >= 0 && apply(branch)) {
        return false;
      }
    }
    return ok && fatal_.ok();
  }

  bool EvalObject(const Node& n, const JsonValue& v, Errors* e) {
    bool ok = true;
    for (const std::string& name : n.required) {
      if (FindMember(v, name) == nullptr) {
        Scope scope(*this, name);
        Report(e, [] { return std::string("required property is missing"); });
        ok = false;
        if (Stop(e)) {
          return false;
        }
      }
    }
    const uint64_t count = v.MemberCount();
    if (n.min_properties && count < *n.min_properties) {
      Report(e, [&] {
        return absl::StrCat("must have at least ", *n.min_properties, " properties, got ", count);
      });
      ok = false;
      if (Stop(e)) {
        return false;
      }
    }
    if (n.max_properties && count > *n.max_properties) {
      Report(e, [&] {
        return absl::StrCat("must have at most ", *n.max_properties, " properties, got ", count);
      });
      ok = false;
      if (Stop(e)) {
        return false;
      }
    }
    if (n.properties.empty() && n.pattern_properties.empty() && n.additional_properties < 0 &&
        n.property_names < 0) {
      return ok;
    }
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      const absl::string_view name = AsStringView(m->name);
      bool matched = false;
      auto apply = [&](int index) {
        Scope scope(*this, name);
        if (!Eval(index, m->value, e)) {
          ok = false;
        }
        return !ok && Stop(e);
      };
      if (auto it = n.properties.find(name); it != n.properties.end()) {
        matched = true;
        if (apply(it->second)) {
          return false;
        }
      }
      for (const auto& [pattern, index] : n.pattern_properties) {
        if (Matches(pattern, name)) {
          matched = true;
          if (apply(index)) {
            return false;
          }
        } else if (!fatal_.ok()) {
          return false;
        }
      }
      if (!matched && n.additional_properties >= 0) {
        if (nodes_[n.additional_properties].kind == Node::Kind::kFalse) {
          Report(e, [&] { return absl::StrCat("unexpected property ", Quote(name)); });
          ok = false;
          if (Stop(e)) {
            return false;
          }
        } else if (apply(n.additional_properties)) {
          return false;
        }
      }
      if (n.property_names >= 0) {
        const JsonValue key(rapidjson::StringRef(m->name.GetString(), m->name.GetStringLength()));
        if (!Eval(n.property_names, key, nullptr)) {
          Report(e, [&] {
            // The name's own problem, e.g. "must match pattern ...", without the path prefix.
            Errors sub{{}, 1};
            Eval(n.property_names, key, &sub);
            std::string why = sub.messages.empty() ? "" : sub.messages.front();
            const std::string prefix = Path() + ": ";
            if (absl::StartsWith(why, prefix)) {
              why.erase(0, prefix.size());
            }
            return absl::StrCat("property name ", Quote(name), " is invalid",
                                why.empty() ? "" : ": ", why);
          });
          ok = false;
          if (Stop(e)) {
            return false;
          }
        }
      }
    }
    return ok;
  }

  bool EvalArray(const Node& n, const JsonValue& v, Errors* e) {
    bool ok = true;
    const uint64_t size = v.Size();
    if (n.min_items && size < *n.min_items) {
      Report(e, [&] {
        return absl::StrCat("must have at least ", *n.min_items, " items, got ", size);
      });
      ok = false;
      if (Stop(e)) {
        return false;
      }
    }
    if (n.max_items && size > *n.max_items) {
      Report(e, [&] {
        return absl::StrCat("must have at most ", *n.max_items, " items, got ", size);
      });
      ok = false;
      if (Stop(e)) {
        return false;
      }
    }
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      const int index = i < n.prefix_items.size() ? n.prefix_items[i] : n.items;
      if (index < 0) {
        break;
      }
      Scope scope(*this, size_t{i});
      if (!Eval(index, v[i], e)) {
        ok = false;
        if (Stop(e)) {
          return false;
        }
      }
    }
    if (n.unique_items && size > 1) {
      if (std::optional<std::pair<size_t, size_t>> dup = FindDuplicate(v)) {
        Report(e, [&] {
          return absl::StrCat("must not contain duplicate items ([", dup->first, "] and [",
                              dup->second, "] are equal)");
        });
        ok = false;
      }
    }
    return ok;
  }

  // FindDuplicate returns two indices of equal elements: sorted by hash, only elements with
  // equal hashes are compared (Hash is seeded per process, so collisions cannot be planned).
  ABSL_ATTRIBUTE_NOINLINE static std::optional<std::pair<size_t, size_t>> FindDuplicate(
      const JsonValue& v) {
    std::vector<std::pair<size_t, size_t>> hashes;  // hash, index
    hashes.reserve(v.Size());
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      hashes.emplace_back(Hash(v[i]), i);
    }
    std::sort(hashes.begin(), hashes.end());
    for (size_t start = 0; start < hashes.size();) {
      size_t end = start + 1;
      while (end < hashes.size() && hashes[end].first == hashes[start].first) {
        ++end;
      }
      for (size_t a = start; a < end; ++a) {
        for (size_t b = a + 1; b < end; ++b) {
          const auto i = static_cast<rapidjson::SizeType>(hashes[a].second);
          const auto j = static_cast<rapidjson::SizeType>(hashes[b].second);
          if (Equal(v[i], v[j])) {
            return std::make_pair(size_t{std::min(i, j)}, size_t{std::max(i, j)});
          }
        }
      }
      start = end;
    }
    return std::nullopt;
  }

  ABSL_ATTRIBUTE_NOINLINE bool EvalString(const Node& n, const JsonValue& v, Errors* e) {
    bool ok = true;
    const absl::string_view s = AsStringView(v);
    if (n.min_length || n.max_length) {
      const uint64_t length = CountCodePoints(s);
      if (n.min_length && length < *n.min_length) {
        Report(e, [&] {
          return absl::StrCat("must be at least ", *n.min_length, " characters long, got ", length);
        });
        ok = false;
        if (Stop(e)) {
          return false;
        }
      }
      if (n.max_length && length > *n.max_length) {
        Report(e, [&] {
          return absl::StrCat("must be at most ", *n.max_length, " characters long, got ", length);
        });
        ok = false;
        if (Stop(e)) {
          return false;
        }
      }
    }
    if (n.pattern && !Matches(*n.pattern, s)) {
      Report(e, [&] { return absl::StrCat("must match pattern ", Quote(n.pattern->source)); });
      ok = false;
    }
    return ok;
  }

  ABSL_ATTRIBUTE_NOINLINE bool EvalNumber(const Node& n, const JsonValue& v, Errors* e) {
    bool ok = true;
    struct Bound {
      const JsonValue* limit;
      bool (*passes)(int);
      absl::string_view relation;
    };
    const Bound bounds[] = {
        {n.minimum, [](int c) { return c >= 0; }, ">="},
        {n.maximum, [](int c) { return c <= 0; }, "<="},
        {n.exclusive_minimum, [](int c) { return c > 0; }, ">"},
        {n.exclusive_maximum, [](int c) { return c < 0; }, "<"},
    };
    for (const Bound& b : bounds) {
      if (b.limit != nullptr && !b.passes(CompareNumbers(v, *b.limit))) {
        Report(e, [&] {
          return absl::StrCat("must be ", b.relation, " ", Snippet(*b.limit), ", got ", Snippet(v));
        });
        ok = false;
        if (Stop(e)) {
          return false;
        }
      }
    }
    if (n.multiple_of != nullptr && !IsMultipleOf(v, *n.multiple_of)) {
      Report(e, [&] {
        return absl::StrCat("must be a multiple of ", Snippet(*n.multiple_of), ", got ",
                            Snippet(v));
      });
      ok = false;
    }
    return ok;
  }

  const std::vector<Node>& nodes_;
  absl::string_view root_name_;
  std::vector<Segment> path_;
  int eval_depth_ = 0;
  uint64_t steps_ = 0;
  bool explaining_ = false;
  absl::Status fatal_;
};

}  // namespace
}  // namespace internal

JsonSchema::JsonSchema(std::shared_ptr<const internal::CompiledSchema> compiled)
    : compiled_(std::move(compiled)) {}

absl::StatusOr<JsonSchema> JsonSchema::Compile(const JsonValue& schema) {
  auto compiled = std::make_shared<internal::CompiledSchema>();
  compiled->source = Json::Copy(schema);
  internal::Compiler compiler(*compiled);
  MCPGW_RETURN_IF_ERROR(compiler.Run(compiled->source.value()));
  return JsonSchema(std::move(compiled));
}

absl::Status JsonSchema::Validate(const JsonValue& instance, absl::string_view root_name) const {
  if (compiled_ == nullptr) {
    return absl::FailedPreconditionError("JsonSchema::Validate called on a moved-from schema");
  }
  if (internal::ExceedsDepth(instance, kMaxJsonSchemaDepth)) {
    return absl::InvalidArgumentError(
        absl::StrCat(root_name, ": value nests deeper than ", kMaxJsonSchemaDepth, " levels"));
  }
  internal::Validator validator(*compiled_, root_name);
  internal::Errors errors{{}, internal::kMaxErrors + 1};  // one extra: "and more"
  const bool ok = validator.Eval(0, instance, &errors);
  if (!validator.fatal().ok()) {
    return validator.fatal();
  }
  if (ok) {
    return absl::OkStatus();
  }
  if (errors.messages.empty()) {  // not expected: every failure reports
    return absl::InvalidArgumentError(absl::StrCat(root_name, ": does not match the schema"));
  }
  const bool more = errors.messages.size() > internal::kMaxErrors;
  errors.messages.resize(std::min(errors.messages.size(), internal::kMaxErrors));
  return absl::InvalidArgumentError(
      absl::StrCat(absl::StrJoin(errors.messages, "; "), more ? "; and more problems" : ""));
}

}  // namespace mcpgw::mcp
