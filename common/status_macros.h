// Early-return helpers for absl::Status / absl::StatusOr, as used across Google code.
//   SEQ_RETURN_IF_ERROR(CheckSomething());
//   SEQ_ASSIGN_OR_RETURN(int64_t groups, args.Int("groups"));
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SEQ_CONCAT_INNER_(a, b) a##b
#define SEQ_CONCAT_(a, b) SEQ_CONCAT_INNER_(a, b)

#define SEQ_RETURN_IF_ERROR(expr)                \
  do {                                           \
    const ::absl::Status seq_status_ = (expr);   \
    if (!seq_status_.ok()) return seq_status_;   \
  } while (false)

#define SEQ_ASSIGN_OR_RETURN(lhs, expr) \
  SEQ_ASSIGN_OR_RETURN_IMPL_(SEQ_CONCAT_(seq_statusor_, __LINE__), lhs, expr)

#define SEQ_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)
