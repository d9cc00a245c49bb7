// echo_server: the performance floor of seqserve's gRPC front end (issue 3). A bare
// callback-API inference.GRPCInferenceService whose ModelInfer (and ModelStreamInfer)
// copies the first input back as the output "output", in the form the client used (raw or
// fp32_contents), as seqserve answers. Nothing else happens per request, so seqperf
// against it measures what gRPC itself costs on this machine:
//
//   build/bin/echo_server --port 0 &            # prints "echo_server listening on ...:PORT"
//   build/bin/seqperf -u 127.0.0.1:PORT -m echo --shape 1,28,28 --server-pid $!
//
//   build/bin/echo_server --port 0 --reply-floats 25600   # a seed-sized reply
//
// Every other RPC answers as a healthy server with one always-ready model would, so
// seqclient works against it too. Stops on SIGINT/SIGTERM.
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "CLI/CLI.hpp"
#include "proto/grpc_service.grpc.pb.h"

namespace seqserve {
namespace {

// With --reply-floats N, the output is N zeros of shape [1, N] instead of the input: the
// floor for a model whose output is larger than its input (seed: 784 floats in, 25,600
// out), since moving the reply costs CPU too.
int64_t reply_floats = 0;

// The response seqserve would give for an echoing model.
void Echo(const inference::ModelInferRequest& request, inference::ModelInferResponse* response) {
  response->set_model_name(request.model_name());
  response->set_model_version(request.model_version().empty() ? "1" : request.model_version());
  response->set_id(request.id());
  if (request.inputs_size() == 0) return;
  const auto& in = request.inputs(0);
  auto* out = response->add_outputs();
  out->set_name("output");
  out->set_datatype(in.datatype());
  if (reply_floats > 0) {
    out->add_shape(1);
    out->add_shape(reply_floats);
    if (request.raw_input_contents_size() > 0) {
      response->add_raw_output_contents()->assign(reply_floats * sizeof(float), '\0');
    } else {
      out->mutable_contents()->mutable_fp32_contents()->Resize(static_cast<int>(reply_floats),
                                                              0.f);
    }
    return;
  }
  *out->mutable_shape() = in.shape();
  if (request.raw_input_contents_size() > 0) {
    *response->add_raw_output_contents() = request.raw_input_contents(0);
  } else {
    *out->mutable_contents() = in.contents();
  }
}

class EchoService final : public inference::GRPCInferenceService::CallbackService {
  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) override {
    response->set_live(true);
    return Done(context);
  }
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) override {
    response->set_ready(true);
    return Done(context);
  }
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest*,
                                       inference::ModelReadyResponse* response) override {
    response->set_ready(true);
    return Done(context);
  }
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* response) override {
    response->set_name("echo_server");
    response->set_version("0");
    return Done(context);
  }
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override {
    response->set_name(request->name());
    response->add_versions("1");
    response->set_platform("echo");
    for (auto* tensor : {response->add_inputs(), response->add_outputs()}) {
      tensor->set_datatype("FP32");
      tensor->add_shape(-1);
    }
    response->mutable_inputs(0)->set_name("input");
    response->mutable_outputs(0)->set_name("output");
    return Done(context);
  }
  grpc::ServerUnaryReactor* RepositoryIndex(
      grpc::CallbackServerContext* context, const inference::RepositoryIndexRequest*,
      inference::RepositoryIndexResponse* response) override {
    auto* model = response->add_models();
    model->set_name("echo");
    model->set_version("1");
    model->set_state("READY");
    return Done(context);
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    Echo(*request, response);
    return Done(context);
  }

  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext*) override {
    return new StreamEcho();
  }

  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  // Answers each request before reading the next, so one message buffer each way suffices.
  class StreamEcho final : public grpc::ServerBidiReactor<inference::ModelInferRequest,
                                                          inference::ModelStreamInferResponse> {
   public:
    StreamEcho() { StartRead(&request_); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      response_.Clear();
      Echo(request_, response_.mutable_infer_response());
      StartWrite(&response_);
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
        return;
      }
      StartRead(&request_);
    }
    void OnDone() override { delete this; }

   private:
    inference::ModelInferRequest request_;
    inference::ModelStreamInferResponse response_;
  };
};

}  // namespace
}  // namespace seqserve

int main(int argc, char** argv) {
  CLI::App app{"Bare gRPC echo of ModelInfer: the floor seqserve's front end is measured against"};
  std::string address = "127.0.0.1";
  int port = 0;
  int max_message_bytes = 64 << 20;
  app.add_option("--address", address, "Address to listen on")->capture_default_str();
  app.add_option("--port", port, "Port to listen on; 0 picks a free one")->capture_default_str();
  app.add_option("--max-message-bytes", max_message_bytes, "Largest message accepted")
      ->capture_default_str();
  app.add_option("--reply-floats", seqserve::reply_floats,
                 "Reply with this many zeros instead of the input (0: echo the input)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before gRPC starts its threads, so only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  seqserve::EchoService service;
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(address + ":" + std::to_string(port),
                           grpc::InsecureServerCredentials(), &bound_port);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    std::fprintf(stderr, "echo_server: cannot listen on %s:%d\n", address.c_str(), port);
    return 1;
  }
  std::printf("echo_server listening on %s:%d\n", address.c_str(), bound_port);
  std::fflush(stdout);

  int signal = 0;
  sigwait(&signals, &signal);
  server->Shutdown();
  return 0;
}
