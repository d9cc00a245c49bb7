// One sampled inference request's trace (Triton's trace extension at level TIMESTAMPS): when
// each stage of the request happened, in nanoseconds of the steady clock as Triton's are,
// and which model and version served it. The Tracer creates it when it samples a request
// (tracing/tracer.h); the front end, the batch runner and the front end again stamp it as
// the request passes; when its last holder lets go of it, it goes to the collector of the
// settings it was sampled under, which writes it out (Triton, too, writes a trace when it is
// released), so a request that fails half-way still leaves the stages it reached.
//
// Written as Triton's JSON trace: one object naming the model, then one object per stage,
// in the order of TraceActivity (the order a request passes them):
//   {"id":3,"model_name":"lenet","model_version":1,"request_id":"r7"},
//   {"id":3,"timestamps":[{"name":"REQUEST_START","ns":2356425054785863}]}, ...
// model_version is -1 when the request never reached a version (an unknown model, say);
// request_id only when the request carried one.
//
// Not thread-safe: like its request, one thread at a time touches it (front end, then a
// worker, then the front end), handed on through the scheduler's and front ends' own
// synchronisation.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace seqserve {

// The stages Triton names, in the order a request passes them. gRPC requests have the
// GRPC_* ones, HTTP requests the HTTP_* ones; a unary gRPC call has no GRPC_WAITREAD_*
// (gRPC's callback API hands the handler a request already read).
enum class TraceActivity : uint8_t {
  kHttpRecvStart,       // the request's first byte arrived
  kHttpRecvEnd,         // the whole request was read and handed to the REST front end
  kGrpcWaitReadStart,   // a stream started waiting for its next request
  kGrpcWaitReadEnd,     // ... which has been read
  kRequestStart,        // the front end starts on the request (decode, validate)
  kQueueStart,          // handed to the model's scheduler
  kComputeStart,        // a worker took its batch
  kComputeInputEnd,     // the batch's input gathered
  kComputeOutputStart,  // the model ran; outputs are scattered
  kComputeEnd,          // the batch's outputs written
  kRequestEnd,          // the front end has the result (or the error)
  kHttpSendStart,       // the reply starts to be written
  kHttpSendEnd,         // ... and has been
  kGrpcSendStart,       // the reply handed to gRPC
  kGrpcSendEnd,         // gRPC is done with the call (or stream write)
};
inline constexpr size_t kTraceActivityCount = 15;

// Triton's name: "COMPUTE_INPUT_END".
const char* TraceActivityName(TraceActivity activity);

// Steady clock, nanoseconds: the time base of every stamp.
int64_t TraceNowNanos();

class RequestTrace;

// Where finished traces go. Thread-safe: traces finish on any thread.
class TraceCollector {
 public:
  virtual ~TraceCollector() = default;
  virtual void Collect(const RequestTrace& trace) = 0;
};

class RequestTrace {
 public:
  // `collector` null: the trace goes nowhere (tests).
  RequestTrace(uint64_t id, std::string_view model_name, std::shared_ptr<TraceCollector> collector);
  ~RequestTrace();  // hands the trace to its collector

  RequestTrace(const RequestTrace&) = delete;
  RequestTrace& operator=(const RequestTrace&) = delete;

  // Records `activity` now, or at `ns` (steady clock); a stage stamped twice keeps the last.
  void Stamp(TraceActivity activity) { Stamp(activity, TraceNowNanos()); }
  void Stamp(TraceActivity activity, int64_t ns) { ns_[static_cast<size_t>(activity)] = ns; }
  // The batch runner's four stamps at once.
  void StampCompute(int64_t start_ns, int64_t input_end_ns, int64_t output_start_ns,
                    int64_t end_ns);

  void set_model_version(int64_t version) { model_version_ = version; }
  void set_request_id(std::string_view id) { request_id_ = std::string(id); }

  uint64_t id() const { return id_; }
  // When `activity` was stamped; 0 when it was not.
  int64_t stamp(TraceActivity activity) const { return ns_[static_cast<size_t>(activity)]; }

  // The trace as Triton writes it: its objects joined by commas, without brackets.
  std::string ToJson() const;

 private:
  const uint64_t id_;
  const std::string model_name_;
  int64_t model_version_ = -1;
  std::string request_id_;
  std::array<int64_t, kTraceActivityCount> ns_{};  // 0: not stamped
  std::shared_ptr<TraceCollector> collector_;
};

}  // namespace seqserve
