// File: fmt.h
//
// Lets fmt and spdlog format absl::string_view, which on Debian's Abseil build is its own type
// (not std::string_view), and absl::Status.
//
//   spdlog::warn("request failed: {}", status);
#pragma once

#include <fmt/format.h>

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

#ifndef ABSL_USES_STD_STRING_VIEW
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};
#endif

template <>
struct fmt::formatter<absl::Status> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const absl::Status& s, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(s.ToString(), ctx);
  }
};
