// bare_client: the reference seqperf's own cost is measured against (issue 4). The least a
// gRPC C++ client can do: one thread, one completion queue, `concurrency` unary
// ModelInfer calls always in flight with one pre-built request, no timing per request.
// Prints requests/s and this process's CPU per request (getrusage), as seqperf does.
//
//   build/bin/bare_client --url 127.0.0.1:PORT -m lenet --shape 1,1,28,28 --concurrency 64
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "proto/grpc_service.grpc.pb.h"

namespace {

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

struct Call {
  grpc::ClientContext context;
  inference::ModelInferResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<inference::ModelInferResponse>> reader;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Bare async gRPC ModelInfer client: the floor of a load generator's cost"};
  std::string url = "127.0.0.1:8001", model, shape_text = "1,1,28,28";
  int concurrency = 1;
  double seconds = 5;
  app.add_option("--url", url)->capture_default_str();
  app.add_option("-m,--model", model)->required();
  app.add_option("--shape", shape_text, "the whole input shape, batch included")
      ->capture_default_str();
  app.add_option("--concurrency", concurrency)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seconds", seconds)->check(CLI::PositiveNumber)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  inference::ModelInferRequest request;
  request.set_model_name(model);
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  int64_t elements = 1;
  for (absl::string_view part : absl::StrSplit(shape_text, ',')) {
    int64_t dim = 0;
    if (!absl::SimpleAtoi(part, &dim) || dim <= 0) {
      std::fprintf(stderr, "bad --shape '%s'\n", shape_text.c_str());
      return 2;
    }
    input->add_shape(dim);
    elements *= dim;
  }
  request.add_raw_input_contents()->assign(static_cast<size_t>(elements) * sizeof(float), '\0');

  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(url, grpc::InsecureChannelCredentials()));
  grpc::CompletionQueue queue;
  auto start_call = [&](std::unique_ptr<Call>& call) {
    call = std::make_unique<Call>();
    call->reader = stub->AsyncModelInfer(&call->context, request, &queue);
    call->reader->Finish(&call->response, &call->status, call.get());
  };
  std::vector<std::unique_ptr<Call>> calls(static_cast<size_t>(concurrency));

  using Clock = std::chrono::steady_clock;
  const Clock::time_point end =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const double cpu_start = CpuSeconds();
  const Clock::time_point start = Clock::now();
  for (auto& call : calls) start_call(call);
  int64_t done = 0, errors = 0, outstanding = concurrency;
  void* tag = nullptr;
  bool ok = false;
  while (outstanding > 0 && queue.Next(&tag, &ok)) {
    Call* finished = static_cast<Call*>(tag);
    ++done;
    if (!ok || !finished->status.ok()) ++errors;
    for (auto& call : calls) {
      if (call.get() != finished) continue;
      if (Clock::now() < end) {
        start_call(call);
      } else {
        call.reset();
        --outstanding;
      }
      break;
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = CpuSeconds() - cpu_start;
  std::printf("bare client x%d: %.1f infer/s, client CPU %.1f us/req (%lld requests, %lld errors)\n",
              concurrency, static_cast<double>(done) / elapsed, cpu * 1e6 / static_cast<double>(done),
              static_cast<long long>(done), static_cast<long long>(errors));
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return errors > 0 ? 1 : 0;
}
