// gmock matchers for absl::Status and absl::StatusOr (Debian's Abseil 20220623 has none).
//
//   EXPECT_THAT(DoIt(), IsOk());
//   EXPECT_THAT(Parse("x"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("offset")));
#pragma once

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace mcpgw::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) {
    *result_listener << "status is " << s.ToString();
  }
  return s.ok();
}

MATCHER_P(StatusIs, code, "has status code " + ::testing::PrintToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + ::testing::PrintToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code &&
         ::testing::Matches(message_matcher)(std::string(s.message()));
}

// IsOkAndHolds matches an OK StatusOr<T> whose value matches `value_matcher`.
MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status().ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace mcpgw::testing

#define MCPGW_ASSERT_OK_AND_ASSIGN(lhs, expr)                              \
  MCPGW_ASSERT_OK_AND_ASSIGN_IMPL_(MCPGW_TESTING_CONCAT_(sor_, __LINE__), lhs, expr)
#define MCPGW_TESTING_CONCAT_INNER_(a, b) a##b
#define MCPGW_TESTING_CONCAT_(a, b) MCPGW_TESTING_CONCAT_INNER_(a, b)
#define MCPGW_ASSERT_OK_AND_ASSIGN_IMPL_(sor, lhs, expr) \
  auto sor = (expr);                                     \
  ASSERT_TRUE(sor.ok()) << sor.status().ToString();      \
  lhs = *std::move(sor)
