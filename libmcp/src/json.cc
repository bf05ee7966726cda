#include "mcpgw/mcp/json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace mcpgw::mcp {

// Each owned value has its own pool allocator, sized to the value, so that many small values
// (tool schemas in a cache) don't each hold RapidJSON's default 64 KiB chunk.
struct Json::Doc {
  explicit Doc(size_t chunk) : alloc(chunk), doc(&alloc) {}
  JsonAllocator alloc;
  rapidjson::Document doc;
};

namespace {

constexpr size_t kMinChunk = 256;
constexpr size_t kMaxChunk = 64 << 10;

// Forwards SAX events to a document, refusing nesting deeper than a limit.
class DepthLimitedHandler {
 public:
  DepthLimitedHandler(rapidjson::Document& doc, size_t max_depth)
      : doc_(doc), max_depth_(max_depth) {}

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    return doc_.RawNumber(s, n, true);
  }
  // Strings are always copied into the document's allocator. Parsing in place would otherwise
  // leave them as references into the text buffer, and RapidJSON's CopyFrom shares such
  // references instead of copying them: a copy would then outlive the text it points to.
  bool String(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    return doc_.String(s, n, true);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool /*copy*/) { return doc_.Key(s, n, true); }
  bool StartObject() { return Enter() && doc_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndObject(n);
  }
  bool StartArray() { return Enter() && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndArray(n);
  }

  bool too_deep() const { return too_deep_; }

 private:
  bool Enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }

  rapidjson::Document& doc_;
  size_t max_depth_;
  size_t depth_ = 0;
  bool too_deep_ = false;
};

// Iterative: deep nesting cannot overflow the stack. Full precision: numbers are forwarded
// exactly as they came.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag;

// Whether `text` is pure ASCII (then it is valid UTF-8 and RapidJSON's per-character
// validation can be skipped). Checks eight bytes at a time.
bool IsAscii(absl::string_view text) {
  const char* p = text.data();
  size_t n = text.size();
  uint64_t bits = 0;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    bits |= word;
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    bits |= static_cast<unsigned char>(*p++);
    --n;
  }
  return (bits & 0x8080808080808080ULL) == 0;
}

// Parses in place: the text is copied once into the document's own memory and its strings
// are unescaped there (then copied whole), instead of being pushed through RapidJSON's stack
// one character at a time.
struct Generator {
  char* text;  // NUL-terminated copy owned by the document's allocator
  bool ascii;
  size_t max_depth;
  rapidjson::ParseResult result;
  bool too_deep = false;

  bool operator()(rapidjson::Document& doc) {
    rapidjson::InsituStringStream in(text);
    rapidjson::Reader reader;
    DepthLimitedHandler handler(doc, max_depth);
    constexpr unsigned kInsitu = kParseFlags | rapidjson::kParseInsituFlag;
    if (ascii) {
      result = reader.Parse<kInsitu>(in, handler);
    } else {
      result = reader.Parse<kInsitu | rapidjson::kParseValidateEncodingFlag>(in, handler);
    }
    too_deep = handler.too_deep();
    return !result.IsError();
  }
};


}  // namespace

Json::Json(std::unique_ptr<Doc> doc) : doc_(std::move(doc)) {}
Json::Json() = default;
Json::~Json() = default;
Json::Json(Json&& other) noexcept = default;
Json& Json::operator=(Json&& other) noexcept = default;

std::unique_ptr<Json::Doc> Json::NewDoc(size_t size_hint) {
  // Room for the text itself (parsed in place) and about as much again for the values.
  return std::make_unique<Doc>(std::clamp(size_hint * 2 + 64, kMinChunk, kMaxChunk));
}

Json::Json(const Json& other) {
  if (other.doc_ != nullptr) {
    doc_ = NewDoc(kMinChunk);
    doc_->doc.CopyFrom(other.doc_->doc, doc_->alloc);
  }
}

Json& Json::operator=(const Json& other) {
  if (this != &other) {
    Json copy(other);
    *this = std::move(copy);
  }
  return *this;
}

absl::StatusOr<Json> Json::Parse(absl::string_view text, size_t max_depth) {
  if (text.size() >= std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("JSON text of 4 GiB or more");
  }
  if (const void* nul = std::memchr(text.data(), '\0', text.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid JSON at offset ", static_cast<const char*>(nul) - text.data(), ": a NUL byte"));
  }
  std::unique_ptr<Doc> doc = NewDoc(text.size());
  char* copy = static_cast<char*>(doc->alloc.Malloc(text.size() + 1));
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  Generator gen{copy, IsAscii(text), max_depth, {}, false};
  doc->doc.Populate(gen);
  if (gen.result.IsError()) {
    if (gen.too_deep) {
      return absl::InvalidArgumentError(absl::StrCat(
          "JSON nested deeper than ", max_depth, " levels at offset ", gen.result.Offset()));
    }
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON at offset ", gen.result.Offset(),
                                                   ": ",
                                                   rapidjson::GetParseError_En(gen.result.Code())));
  }
  return Json(std::move(doc));
}

Json Json::Copy(const JsonValue& value) {
  Json j(NewDoc(kMinChunk));
  j.doc_->doc.CopyFrom(value, j.doc_->alloc);
  return j;
}

Json Json::Object() {
  Json j(NewDoc(kMinChunk));
  j.doc_->doc.SetObject();
  return j;
}

Json Json::Array() {
  Json j(NewDoc(kMinChunk));
  j.doc_->doc.SetArray();
  return j;
}

Json Json::String(absl::string_view s) {
  Json j(NewDoc(s.size()));
  j.doc_->doc.SetString(s.data(), static_cast<rapidjson::SizeType>(s.size()), j.doc_->alloc);
  return j;
}

const JsonValue& Json::value() const {
  static const JsonValue* const kNull = new JsonValue();
  return doc_ == nullptr ? *kNull : doc_->doc;
}

JsonValue& Json::mutable_value() {
  if (doc_ == nullptr) {
    doc_ = NewDoc(kMinChunk);
  }
  return doc_->doc;
}

JsonAllocator& Json::allocator() {
  if (doc_ == nullptr) {
    doc_ = NewDoc(kMinChunk);
  }
  return doc_->alloc;
}

void Json::Set(absl::string_view key, JsonValue value) {
  JsonValue& obj = mutable_value();
  if (!obj.IsObject()) {
    obj.SetObject();
  }
  if (JsonValue* existing = FindMember(obj, key)) {
    *existing = std::move(value);
    return;
  }
  obj.AddMember(JsonString(key, allocator()), value, allocator());
}

void Json::Set(absl::string_view key, absl::string_view value) {
  Set(key, JsonString(value, allocator()));
}

void Json::Set(absl::string_view key, const Json& value) {
  JsonValue copy;
  copy.CopyFrom(value.value(), allocator());
  Set(key, std::move(copy));
}

std::string Json::Serialize() const { return SerializeJson(value()); }

bool operator==(const Json& a, const Json& b) { return a.value() == b.value(); }

void AppendJson(const JsonValue& value, std::string& out) {
  // RapidJSON's own buffer writes characters without a capacity check each; one copy at the
  // end is much cheaper than std::string::push_back per character.
  rapidjson::StringBuffer buffer(nullptr, 256);
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  out.append(buffer.GetString(), buffer.GetSize());
}

std::string SerializeJson(const JsonValue& value) {
  std::string out;
  AppendJson(value, out);
  return out;
}

JsonValue JsonNumber(double d) {
  if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.0e15) {
    return JsonValue(static_cast<int64_t>(d));
  }
  return JsonValue(d);
}

const JsonValue* FindMember(const JsonValue& object, absl::string_view key) {
  if (!object.IsObject()) {
    return nullptr;
  }
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    if (it->name.GetStringLength() == key.size() &&
        std::equal(key.begin(), key.end(), it->name.GetString())) {
      return &it->value;
    }
  }
  return nullptr;
}

JsonValue* FindMember(JsonValue& object, absl::string_view key) {
  return const_cast<JsonValue*>(FindMember(static_cast<const JsonValue&>(object), key));
}

}  // namespace mcpgw::mcp
