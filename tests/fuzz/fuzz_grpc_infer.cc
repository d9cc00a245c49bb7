// libFuzzer target: gRPC inference request validation. The bytes are parsed as a
// ModelInferRequest (protobuf wire format; what gRPC hands the service) and validated by
// DecodeInferRequest (server/grpc/grpc_codec.h → frontend ValidateInferRequest) against two
// real models of models/, loaded and configured as the server does: mlp (FP32 input, a
// batching config) and textclass (int64 ids, every id checked against the embedding size).
// The request's model_name picks the model ("textclass", else mlp). A validated input holds
// exactly NumElements(shape) elements of the model's type.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "google/protobuf/stubs/logging.h"
#include "server/config/config_parser.h"
#include "server/config/model_config.h"
#include "server/grpc/grpc_codec.h"

namespace {

struct Served {
  std::shared_ptr<seqserve::Model> model;
  seqserve::ServingConfig config;
};

Served LoadOrDie(const std::string& name) {
  using namespace seqserve;
  const std::filesystem::path dir = std::filesystem::path(SEQSERVE_SOURCE_DIR) / "models" / name;
  auto parsed = ParseModelConfig(dir / "config.pbtxt");
  if (!parsed.ok()) {
    std::fprintf(stderr, "fuzz_grpc_infer: %s\n", parsed.status().ToString().c_str());
    std::abort();
  }
  auto options = ModelOptionsFromConfig(*parsed, 1);
  auto model = options.ok() ? Model::Load(dir / "1", *options) : options.status();
  if (!model.ok()) {
    std::fprintf(stderr, "fuzz_grpc_infer: %s\n", model.status().ToString().c_str());
    std::abort();
  }
  auto config = CompleteModelConfig(*parsed, name, true, **model, 1);
  if (!config.ok()) {
    std::fprintf(stderr, "fuzz_grpc_infer: %s\n", config.status().ToString().c_str());
    std::abort();
  }
  // A small output limit so that the RESOURCE_EXHAUSTED path is reached too.
  config->limits.max_output_bytes = 1 << 16;
  return Served{*model, *config};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqserve;
  // Protobuf logs every string field that is not UTF-8 as it rejects the message: quiet.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  static const Served mlp = LoadOrDie("mlp");
  static const Served textclass = LoadOrDie("textclass");

  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  const Served& served = request.model_name() == "textclass" ? textclass : mlp;
  auto input = DecodeInferRequest(request, request.model_name(), served.config, *served.model);
  if (!input.ok()) return 0;
  const size_t want = static_cast<size_t>(NumElements(input->shape)) * DTypeSize(input->dtype);
  if (input->bytes.size() != want || input->dtype != served.config.input_dtype) std::abort();
  // Read every byte of the validated input (ASan: it must lie in the request or the input).
  unsigned sum = 0;
  for (std::byte b : input->bytes) sum += static_cast<unsigned>(b);
  return static_cast<int>(sum & 0);
}
