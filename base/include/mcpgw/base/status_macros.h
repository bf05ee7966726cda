// File: status_macros.h
//
// Early-return helpers for absl::Status and absl::StatusOr, named after the upstream Abseil
// macros (absent from Debian's Abseil 20220623) so a later switch is mechanical.
//
//   absl::StatusOr<Config> Load(absl::string_view path) {
//     MCPGW_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//     MCPGW_RETURN_IF_ERROR(Validate(text));
//     return Parse(text);
//   }
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MCPGW_STATUS_CONCAT_INNER_(a, b) a##b
#define MCPGW_STATUS_CONCAT_(a, b) MCPGW_STATUS_CONCAT_INNER_(a, b)

// The variable is named after the line, so the macro nests (e.g. in a lambda passed to it).
#define MCPGW_RETURN_IF_ERROR(expr) \
  MCPGW_RETURN_IF_ERROR_IMPL_(MCPGW_STATUS_CONCAT_(mcpgw_status_, __LINE__), expr)
#define MCPGW_RETURN_IF_ERROR_IMPL_(status, expr) \
  do {                                            \
    ::absl::Status status = (expr);               \
    if (!status.ok()) return status;              \
  } while (false)

#define MCPGW_ASSIGN_OR_RETURN(lhs, expr) \
  MCPGW_ASSIGN_OR_RETURN_IMPL_(MCPGW_STATUS_CONCAT_(mcpgw_statusor_, __LINE__), lhs, expr)

#define MCPGW_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)
