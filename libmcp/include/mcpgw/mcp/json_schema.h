// File: json_schema.h
//
// JsonSchema checks `tools/call` arguments against a tool's `inputSchema`. A schema is compiled
// once (when the tool is registered) and then used for any number of validations, from any
// thread. The supported subset is what MCP tools use in practice, with 2020-12 semantics
// (the MCP default when `$schema` is absent); draft-07 and 2019-09 schemas are accepted too.
//
//   MCPGW_ASSIGN_OR_RETURN(JsonSchema schema, JsonSchema::Compile(tool.input_schema.value()));
//   ...
//   absl::Status valid = schema.Validate(arguments);  // "arguments.city: required property ..."
//
// Keywords: type, enum, const; properties, required, additionalProperties, patternProperties,
// propertyNames, minProperties, maxProperties; items, prefixItems (and draft-07's array form of
// items with additionalItems), minItems, maxItems, uniqueItems; minLength, maxLength (in Unicode
// code points), pattern; minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf;
// allOf, anyOf, oneOf, not, if/then/else; $ref to this schema (`#`, `#/json/pointer`,
// `#anchor` from $anchor or draft-07's `$id: "#anchor"`), $defs, definitions; true and false.
// `format` and other annotations are ignored, and so are unknown keywords (so an unsupported
// validation keyword such as `unevaluatedProperties` or `contains` checks nothing).
//
// `pattern` is ECMA-262 as std::regex understands it, matched against code points (so `.` is
// one character, not one byte), never anchored implicitly. Back-references are refused: they
// would need the backtracking matcher, whose time and stack use the instance would control.
//
// Work is bounded so hostile input can neither crash nor hang: schemas and values nest at most
// kMaxJsonSchemaDepth levels, patterns are size-limited and matched in linear time, and one
// validation performs a bounded number of steps. Validation recurses through at most 512 nested
// subschemas, which takes up to about 250 KiB of stack when optimized (600 KiB at -O0).
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mcpgw/mcp/json.h"

namespace mcpgw::mcp {

namespace internal {
struct CompiledSchema;
}  // namespace internal

// Schemas and validated values may nest this many levels (objects and arrays both count).
inline constexpr int kMaxJsonSchemaDepth = 128;

// JsonSchema is a compiled, immutable schema. Copies are cheap and share the compiled form.
// Thread-safe: Validate may run concurrently on the same object or on copies.
class JsonSchema {
 public:
  // Compile checks `schema` (an object or a boolean) and prepares it for validation. The schema
  // is copied; `schema` need not outlive the result. Returns:
  //   InvalidArgument naming the schema path (e.g. "#/properties/count/type") for a malformed
  //     schema: a keyword of the wrong type, a regular expression std::regex cannot compile or
  //     that is too complex, a local $ref to nothing, a $ref cycle that never descends into
  //     the value (which could only loop), nesting deeper than kMaxJsonSchemaDepth;
  //   Unimplemented for a `$schema` other than 2020-12, 2019-09 or draft-07, for a $ref outside
  //     this schema (never fetched), for $dynamicRef/$recursiveRef, and for a $ref inside an
  //     embedded schema resource (a nested `$id` that changes the base URI).
  static absl::StatusOr<JsonSchema> Compile(const JsonValue& schema);

  // Validate checks `instance` against the schema. Returns OK, or InvalidArgument whose message
  // lists up to five problems separated by "; ", each prefixed by the value's path starting at
  // `root_name`: "arguments.city: required property is missing",
  // "arguments.count: must be an integer, got a string", "arguments: unexpected property 'x'",
  // "arguments.tags[2]: ...". Also InvalidArgument for a value nested deeper than
  // kMaxJsonSchemaDepth, and ResourceExhausted when the schema makes validation of this value
  // too expensive (exponential anyOf/oneOf over a recursive $ref). FailedPrecondition when
  // called on a moved-from JsonSchema.
  absl::Status Validate(const JsonValue& instance, absl::string_view root_name = "arguments") const;

 private:
  explicit JsonSchema(std::shared_ptr<const internal::CompiledSchema> compiled);

  std::shared_ptr<const internal::CompiledSchema> compiled_;
};

}  // namespace mcpgw::mcp
