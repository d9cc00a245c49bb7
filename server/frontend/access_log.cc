#include "server/frontend/access_log.h"

#include <memory>
#include <vector>

#include "server/logging/logging.h"

namespace seqserve {
namespace {

spdlog::logger& AccessLogger() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("access");
  return *logger;
}

}  // namespace

void LogAccess(const AccessEntry& entry) {
  const spdlog::level::level_enum level =
      entry.server_error ? spdlog::level::warn : spdlog::level::info;
  if (!AccessLogger().should_log(level)) return;
  std::vector<LogField> fields;
  fields.reserve(10);
  fields.emplace_back("protocol", entry.protocol);
  if (const auto* code = std::get_if<std::string_view>(&entry.status)) {
    fields.emplace_back("status", *code);
  } else {
    fields.emplace_back("status", std::get<int64_t>(entry.status));
  }
  fields.emplace_back("duration_ms", entry.duration_ms);
  fields.emplace_back("model", entry.model);
  fields.emplace_back("version", entry.version);
  fields.emplace_back("request_id", entry.request_id);
  if (entry.requests) fields.emplace_back("requests", *entry.requests);
  if (entry.bytes_in) fields.emplace_back("bytes_in", *entry.bytes_in);
  if (entry.bytes_out) fields.emplace_back("bytes_out", *entry.bytes_out);
  fields.emplace_back("peer", entry.peer);
  LogWithFields(AccessLogger(), level, entry.request, fields);
}

}  // namespace seqserve
