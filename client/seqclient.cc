// seqclient: command-line access to a seqserve (or any KServe v2 / Triton gRPC) server.
//
//   seqclient [--url host:port] [--timeout-ms N] [TLS and header flags] health
//   seqclient list
//   seqclient metadata MODEL [--version N] [--config]
//   seqclient infer MODEL --input x.npy [--output y.npy] [--version N] [--typed]
//                   (x.npy: float32 images, or int64/int32 ids for a model that takes ids)
//   seqclient load MODEL | unload MODEL
//
// TLS (a server with --grpc-use-ssl): --ssl, --root-cert CA.pem, and for
// --grpc-use-ssl-mutual --client-cert and --client-key; --tls-server-name when the
// certificate names another host than --url. A server with --grpc-restricted-protocol:
// --admin-header KEY=VALUE, the key and value of that flag.
//
// Exit status: 0 on success, 1 when the server (or a file) reports an error — its status
// code and message go to stderr — and 2 for a usage error. `health` exits 1 when the
// server is not ready.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/text_format.h>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/client.h"
#include "common/npy.h"

namespace seqserve::client {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
// Values printed when infer writes no file: enough to eyeball, short enough for a line.
constexpr size_t kPrintedValues = 10;

int Fail(const absl::Status& status) {
  std::cerr << "error: " << status.ToString() << "\n";
  return kExitError;
}

std::string Dims(const google::protobuf::RepeatedField<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

int Health(const Client& client) {
  absl::StatusOr<bool> live = client.ServerLive();
  if (!live.ok()) return Fail(live.status());
  absl::StatusOr<bool> ready = client.ServerReady();
  if (!ready.ok()) return Fail(ready.status());
  std::cout << "live: " << (*live ? "true" : "false") << "\nready: " << (*ready ? "true" : "false")
            << "\n";
  return *live && *ready ? 0 : kExitError;
}

int List(const Client& client) {
  auto index = client.RepositoryIndex();
  if (!index.ok()) return Fail(index.status());
  size_t name_width = 5;
  for (const auto& m : index->models()) name_width = std::max(name_width, m.name().size());
  std::cout << absl::StrFormat("%-*s  %-7s  %-11s  %s\n", name_width, "MODEL", "VERSION", "STATE",
                               "REASON");
  for (const auto& m : index->models()) {
    std::cout << absl::StrFormat("%-*s  %-7s  %-11s  %s\n", name_width, m.name(),
                                 m.version().empty() ? "-" : m.version(), m.state(), m.reason());
  }
  return 0;
}

int Metadata(const Client& client, const std::string& model, int64_t version, bool config) {
  auto meta = client.ModelMetadata(model, version);
  if (!meta.ok()) return Fail(meta.status());
  std::cout << "name: " << meta->name() << "\nversions: " << absl::StrJoin(meta->versions(), ", ")
            << "\nplatform: " << meta->platform() << "\n";
  for (const auto& t : meta->inputs()) {
    std::cout << "input:  " << t.name() << " " << t.datatype() << " " << Dims(t.shape()) << "\n";
  }
  for (const auto& t : meta->outputs()) {
    std::cout << "output: " << t.name() << " " << t.datatype() << " " << Dims(t.shape()) << "\n";
  }
  if (config) {
    auto cfg = client.ModelConfig(model, version);
    if (!cfg.ok()) return Fail(cfg.status());
    std::string text;
    google::protobuf::TextFormat::PrintToString(*cfg, &text);
    std::cout << "config:\n" << text;
  }
  return 0;
}

int Infer(const Client& client, const std::string& model, const std::string& input_path,
          const std::string& output_path, const InferOptions& options) {
  // float32 (float64 is converted), or int64/int32 ids, sent as FP32, INT64 or INT32.
  absl::StatusOr<TypedTensor> input = ReadTypedNpy(input_path);
  if (!input.ok()) return Fail(input.status());
  absl::StatusOr<Tensor> output = client.Infer(model, input->view(), options);
  if (!output.ok()) return Fail(output.status());
  if (!output_path.empty()) {
    if (absl::Status s = WriteNpy(output_path, *output); !s.ok()) return Fail(s);
    std::cout << "wrote " << output_path << ": shape " << ShapeToString(output->shape) << "\n";
    return 0;
  }
  const size_t shown = std::min(kPrintedValues, output->data.size());
  std::string values;
  for (size_t i = 0; i < shown; ++i) absl::StrAppend(&values, i ? ", " : "", output->data[i]);
  std::cout << "shape: " << ShapeToString(output->shape) << "\nvalues: [" << values
            << (output->data.size() > shown ? ", ...]" : "]") << "\n";
  return 0;
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int Main(int argc, char** argv) {
  CLI::App app{"seqclient: talk to a seqserve (KServe v2 gRPC) server"};
  app.require_subcommand(1);
  std::string url = "localhost:8001";
  int64_t timeout_ms = 0;
  app.add_option("-u,--url", url, "Server address host:port")->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "Deadline of each call in ms; 0 = none")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);

  bool use_tls = false;
  std::string root_cert, client_cert, client_key, tls_server_name;
  std::vector<std::string> admin_headers;
  app.add_flag("--ssl", use_tls, "Connect over TLS (a server with --grpc-use-ssl)");
  app.add_option("--root-cert", root_cert, "CA certificate to trust (PEM); default: the system's")
      ->check(CLI::ExistingFile);
  app.add_option("--client-cert", client_cert,
                 "This client's certificate (PEM), for a server with --grpc-use-ssl-mutual")
      ->check(CLI::ExistingFile);
  app.add_option("--client-key", client_key, "This client's private key (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-server-name", tls_server_name,
                 "Name the server's certificate must carry, if not the host of --url");
  app.add_option("--admin-header", admin_headers,
                 "KEY=VALUE of the server's --grpc-restricted-protocol (sent as metadata "
                 "triton-grpc-protocol-KEY); repeatable")
      ->expected(1);

  auto* health = app.add_subcommand("health", "Is the server live and ready? (exit 1 if not)");
  auto* list = app.add_subcommand("list", "List the models of the repository and their state");

  std::string model;
  int64_t version = 0;
  auto* metadata = app.add_subcommand("metadata", "Show a model's inputs, outputs and versions");
  bool show_config = false;
  metadata->add_option("model", model, "Model name")->required();
  metadata->add_option("--version", version, "Model version; 0 = the server's pick");
  metadata->add_flag("--config", show_config, "Also print the model's effective config.pbtxt");

  auto* infer = app.add_subcommand("infer", "Run one inference on a .npy input");
  std::string input_path, output_path;
  InferOptions options;
  bool typed = false;
  infer->add_option("model", model, "Model name")->required();
  infer->add_option("--input", input_path,
                    "Input tensor (.npy, C order): float32 (sent as FP32; float64 is converted), "
                    "or int64/int32 ids (sent as INT64/INT32)")
      ->required()
      ->check(CLI::ExistingFile);
  infer->add_option("--output", output_path, "Write the output tensor here (.npy)");
  infer->add_option("--version", version, "Model version; 0 = the server's pick");
  infer->add_option("--input-name", options.input_name, "Input tensor name")
      ->capture_default_str();
  infer->add_flag("--typed", typed,
                  "Send typed contents (fp32_contents, int64_contents, int_contents) instead of "
                  "raw bytes");

  auto* load = app.add_subcommand("load", "Load (or reload) a model (explicit control mode)");
  load->add_option("model", model, "Model name")->required();
  auto* unload = app.add_subcommand("unload", "Unload a model (explicit control mode)");
  unload->add_option("model", model, "Model name")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  ClientOptions client_options;
  client_options.timeout_ms = timeout_ms;
  client_options.use_tls = use_tls || !root_cert.empty() || !client_cert.empty();
  for (const auto& [path, pem] : {std::pair{&root_cert, &client_options.root_certs_pem},
                                  std::pair{&client_cert, &client_options.client_cert_pem},
                                  std::pair{&client_key, &client_options.client_key_pem}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> text = ReadTextFile(*path);
    if (!text.ok()) return Fail(text.status());
    *pem = *std::move(text);
  }
  client_options.tls_server_name = tls_server_name;
  for (const std::string& header : admin_headers) {
    const size_t equals = header.find('=');
    if (equals == std::string::npos || equals == 0) {
      std::cerr << "error: --admin-header expects KEY=VALUE\n";
      return kExitUsage;
    }
    client_options.headers.emplace_back(RestrictedProtocolHeader(header.substr(0, equals)),
                                        header.substr(equals + 1));
  }
  auto client = Client::Create(url, client_options);
  if (!client.ok()) return Fail(client.status());

  if (*health) return Health(**client);
  if (*list) return List(**client);
  if (*metadata) return Metadata(**client, model, version, show_config);
  if (*infer) {
    options.version = version;
    options.raw = !typed;
    return Infer(**client, model, input_path, output_path, options);
  }
  if (*load) {
    if (absl::Status s = (*client)->Load(model); !s.ok()) return Fail(s);
    std::cout << "loaded " << model << "\n";
    return 0;
  }
  if (*unload) {
    if (absl::Status s = (*client)->Unload(model); !s.ok()) return Fail(s);
    std::cout << "unloaded " << model << "\n";
    return 0;
  }
  return kExitUsage;
}

}  // namespace
}  // namespace seqserve::client

int main(int argc, char** argv) { return seqserve::client::Main(argc, argv); }
