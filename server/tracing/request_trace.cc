#include "server/tracing/request_trace.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logging/json_text.h"

namespace seqserve {

const char* TraceActivityName(TraceActivity activity) {
  switch (activity) {
    case TraceActivity::kHttpRecvStart: return "HTTP_RECV_START";
    case TraceActivity::kHttpRecvEnd: return "HTTP_RECV_END";
    case TraceActivity::kGrpcWaitReadStart: return "GRPC_WAITREAD_START";
    case TraceActivity::kGrpcWaitReadEnd: return "GRPC_WAITREAD_END";
    case TraceActivity::kRequestStart: return "REQUEST_START";
    case TraceActivity::kQueueStart: return "QUEUE_START";
    case TraceActivity::kComputeStart: return "COMPUTE_START";
    case TraceActivity::kComputeInputEnd: return "COMPUTE_INPUT_END";
    case TraceActivity::kComputeOutputStart: return "COMPUTE_OUTPUT_START";
    case TraceActivity::kComputeEnd: return "COMPUTE_END";
    case TraceActivity::kRequestEnd: return "REQUEST_END";
    case TraceActivity::kHttpSendStart: return "HTTP_SEND_START";
    case TraceActivity::kHttpSendEnd: return "HTTP_SEND_END";
    case TraceActivity::kGrpcSendStart: return "GRPC_SEND_START";
    case TraceActivity::kGrpcSendEnd: return "GRPC_SEND_END";
  }
  return "UNKNOWN";
}

int64_t TraceNowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

RequestTrace::RequestTrace(uint64_t id, std::string_view model_name,
                           std::shared_ptr<TraceCollector> collector)
    : id_(id), model_name_(model_name), collector_(std::move(collector)) {}

RequestTrace::~RequestTrace() {
  if (collector_ != nullptr) collector_->Collect(*this);
}

void RequestTrace::StampCompute(int64_t start_ns, int64_t input_end_ns, int64_t output_start_ns,
                                int64_t end_ns) {
  Stamp(TraceActivity::kComputeStart, start_ns);
  Stamp(TraceActivity::kComputeInputEnd, input_end_ns);
  Stamp(TraceActivity::kComputeOutputStart, output_start_ns);
  Stamp(TraceActivity::kComputeEnd, end_ns);
}

std::string RequestTrace::ToJson() const {
  std::string json = absl::StrCat("{\"id\":", id_, ",\"model_name\":", JsonQuote(model_name_),
                                  ",\"model_version\":", model_version_);
  if (!request_id_.empty()) absl::StrAppend(&json, ",\"request_id\":", JsonQuote(request_id_));
  json += '}';
  for (size_t i = 0; i < kTraceActivityCount; ++i) {
    if (ns_[i] == 0) continue;
    absl::StrAppend(&json, ",{\"id\":", id_, ",\"timestamps\":[{\"name\":\"",
                    TraceActivityName(static_cast<TraceActivity>(i)), "\",\"ns\":", ns_[i], "}]}");
  }
  return json;
}

}  // namespace seqserve
