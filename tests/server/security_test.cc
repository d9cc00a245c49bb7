// gRPC over TLS with Triton's flags, mutual TLS, Triton's restricted protocols and the metrics
// address, against the in-process server with the real C++ client (and seqclient, as a user
// runs it). Certificates are made at test time with Debian's openssl CLI (test_certs.h).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/server.h"
#include "tests/util/run_command.h"
#include "tests/util/server_test_util.h"
#include "tests/util/test_certs.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::TestCerts;

class SecurityTest : public ::testing::Test {
 protected:
  SecurityTest() : repository_("security_test") {
    testing::CopyModel(repository_.path(), "lenet", "lenet");
  }

  ServerOptions Options() const { return testing::LocalOptions(repository_.path()); }

  ServerOptions TlsOptions() const {
    ServerOptions options = Options();
    options.grpc_use_ssl = true;
    options.grpc_server_cert = certs_.Cert("server");
    options.grpc_server_key = certs_.Key("server");
    return options;
  }

  std::unique_ptr<Server> StartOrDie(const ServerOptions& options) {
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // A client of `server` on 127.0.0.1 (the server certificate names that address).
  std::unique_ptr<client::Client> Connect(const Server& server,
                                          client::ClientOptions options = {}) {
    options.timeout_ms = 20000;
    absl::StatusOr<std::unique_ptr<client::Client>> client =
        client::Client::Create(absl::StrCat("127.0.0.1:", server.grpc_port()), options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  client::ClientOptions TrustingCa(const std::string& ca) const {
    client::ClientOptions options;
    options.use_tls = true;
    options.root_certs_pem = certs_.CertPem(ca);
    return options;
  }

  // One LeNet inference, checked against PyTorch's golden output.
  static void ExpectInferenceWorks(const client::Client& client) {
    const Tensor input = testing::LoadNpy("lenet", "input");
    const Tensor expected = testing::LoadNpy("lenet", "expected");
    absl::StatusOr<Tensor> output = client.Infer("lenet", testing::Rows(input, 0, 1));
    ASSERT_TRUE(output.ok()) << output.status();
    EXPECT_EQ(output->shape, (Shape{1, 10}));
    testing::ExpectClose(output->data, testing::RowValues(expected, {0}));
  }

  TempDir repository_;
  TestCerts certs_;
};

TEST_F(SecurityTest, TlsServesClientsThatTrustItsCaOnly) {
  std::unique_ptr<Server> server = StartOrDie(TlsOptions());
  ASSERT_NE(server, nullptr);
  std::unique_ptr<client::Client> trusting = Connect(*server, TrustingCa("ca"));
  ASSERT_NE(trusting, nullptr);
  EXPECT_TRUE(trusting->ServerLive().ok());
  ExpectInferenceWorks(*trusting);

  // Plain text to a TLS port, and TLS that trusts another CA, both fail to connect.
  std::unique_ptr<client::Client> plain = Connect(*server);
  EXPECT_EQ(plain->ServerLive().status().code(), absl::StatusCode::kUnavailable);
  std::unique_ptr<client::Client> stranger = Connect(*server, TrustingCa("rogue_ca"));
  EXPECT_EQ(stranger->ServerLive().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(SecurityTest, MutualTlsRefusesClientsWithoutACertificateFromTheRootCert) {
  ServerOptions options = TlsOptions();
  options.grpc_use_ssl = false;  // mutual implies TLS
  options.grpc_use_ssl_mutual = true;
  options.grpc_root_cert = certs_.Cert("ca");
  std::unique_ptr<Server> server = StartOrDie(options);
  ASSERT_NE(server, nullptr);

  client::ClientOptions with_cert = TrustingCa("ca");
  with_cert.client_cert_pem = certs_.CertPem("client");
  with_cert.client_key_pem = certs_.KeyPem("client");
  std::unique_ptr<client::Client> known = Connect(*server, with_cert);
  EXPECT_TRUE(known->ServerLive().ok());
  ExpectInferenceWorks(*known);

  std::unique_ptr<client::Client> anonymous = Connect(*server, TrustingCa("ca"));
  EXPECT_EQ(anonymous->ServerLive().status().code(), absl::StatusCode::kUnavailable);

  client::ClientOptions stranger_cert = TrustingCa("ca");
  stranger_cert.client_cert_pem = certs_.CertPem("rogue_client");
  stranger_cert.client_key_pem = certs_.KeyPem("rogue_client");
  std::unique_ptr<client::Client> stranger = Connect(*server, stranger_cert);
  EXPECT_EQ(stranger->ServerLive().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(SecurityTest, TlsWithoutItsFilesFailsStartNamingTheFlag) {
  ServerOptions no_cert = TlsOptions();
  no_cert.grpc_server_cert.clear();
  EXPECT_EQ(Server::Start(no_cert).status().message(),
            "--grpc-use-ssl needs --grpc-server-cert");

  ServerOptions mutual = TlsOptions();
  mutual.grpc_use_ssl_mutual = true;
  EXPECT_EQ(Server::Start(mutual).status().message(),
            "--grpc-use-ssl-mutual needs --grpc-root-cert");

  ServerOptions key_is_a_directory = TlsOptions();
  key_is_a_directory.grpc_server_key = repository_.path();
  EXPECT_THAT(std::string(Server::Start(key_is_a_directory).status().message()),
              HasSubstr("--grpc-server-key: "));
}

TEST_F(SecurityTest, RestrictedModelRepositoryNeedsTheAdminHeaderAndInferenceDoesNot) {
  ServerOptions options = Options();
  options.control_mode = ModelControlMode::kExplicit;
  options.startup_models = {"lenet"};
  options.grpc_restricted_protocols = {"model-repository:admin-key=s3cret"};
  std::unique_ptr<Server> server = StartOrDie(options);
  ASSERT_NE(server, nullptr);

  std::unique_ptr<client::Client> plain = Connect(*server);
  ExpectInferenceWorks(*plain);
  EXPECT_TRUE(plain->ModelConfig("lenet").ok());
  for (const absl::Status& denied :
       {plain->Unload("lenet"), plain->Load("lenet"), plain->RepositoryIndex().status()}) {
    EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied) << denied;
    EXPECT_EQ(denied.message(),
              "the model-repository protocol is restricted: send header "
              "'triton-grpc-protocol-admin-key' with its value");
  }
  client::ClientOptions wrong;
  wrong.headers = {{client::RestrictedProtocolHeader("admin-key"), "guess"}};
  EXPECT_EQ(Connect(*server, wrong)->Unload("lenet").code(), absl::StatusCode::kPermissionDenied);
  ExpectInferenceWorks(*plain);  // still loaded

  client::ClientOptions admin;
  admin.headers = {{client::RestrictedProtocolHeader("admin-key"), "s3cret"}};
  std::unique_ptr<client::Client> operator_client = Connect(*server, admin);
  ASSERT_TRUE(operator_client->Unload("lenet").ok());
  EXPECT_FALSE(plain->Infer("lenet", testing::Rows(testing::LoadNpy("lenet", "input"), 0, 1))
                   .ok());
  ASSERT_TRUE(operator_client->Load("lenet").ok());
  EXPECT_TRUE(operator_client->RepositoryIndex().ok());
  ExpectInferenceWorks(*plain);
}

TEST_F(SecurityTest, RestrictedInferenceCoversUnaryAndStreamingCalls) {
  ServerOptions options = Options();
  options.grpc_restricted_protocols = {"inference:infer-key=k1", "health:health-key=k2"};
  std::unique_ptr<Server> server = StartOrDie(options);
  ASSERT_NE(server, nullptr);
  std::unique_ptr<client::Client> plain = Connect(*server);
  const Tensor input = testing::Rows(testing::LoadNpy("lenet", "input"), 0, 1);
  EXPECT_EQ(plain->Infer("lenet", input).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(plain->ServerLive().status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(plain->ServerMetadata().ok());  // metadata is not restricted
  std::unique_ptr<client::InferStream> stream = plain->OpenStream(
      [](std::string_view, absl::StatusOr<Tensor>) { ADD_FAILURE() << "no answer expected"; });
  EXPECT_EQ(stream->Finish().code(), absl::StatusCode::kPermissionDenied);

  client::ClientOptions keyed;
  keyed.headers = {{client::RestrictedProtocolHeader("infer-key"), "k1"},
                   {client::RestrictedProtocolHeader("health-key"), "k2"}};
  std::unique_ptr<client::Client> allowed = Connect(*server, keyed);
  ExpectInferenceWorks(*allowed);
  EXPECT_TRUE(allowed->ServerLive().ok());
}

TEST_F(SecurityTest, AMalformedRestrictionFailsStart) {
  ServerOptions options = Options();
  options.grpc_restricted_protocols = {"model-repository,health:k1=v1", "health:k2=v2"};
  EXPECT_EQ(Server::Start(options).status().message(),
            "--grpc-restricted-protocol: protocol 'health' is in more than one group; each "
            "protocol may be restricted once");
}

TEST_F(SecurityTest, SeqclientConnectsWithMutualTlsAndSendsTheAdminHeader) {
  ServerOptions options = TlsOptions();
  options.grpc_use_ssl_mutual = true;
  options.grpc_root_cert = certs_.Cert("ca");
  options.control_mode = ModelControlMode::kExplicit;
  options.startup_models = {"lenet"};
  options.grpc_restricted_protocols = {"model-repository:admin-key=s3cret"};
  std::unique_ptr<Server> server = StartOrDie(options);
  ASSERT_NE(server, nullptr);
  const std::string seqclient =
      absl::StrCat(SEQCLIENT_PATH, " --url 127.0.0.1:", server->grpc_port(), " --root-cert ",
                   certs_.Cert("ca").string(), " --client-cert ", certs_.Cert("client").string(),
                   " --client-key ", certs_.Key("client").string());

  testing::CommandResult health = testing::RunCommand(seqclient + " health");
  EXPECT_EQ(health.exit_code, 0) << health.output;
  testing::CommandResult denied = testing::RunCommand(seqclient + " unload lenet");
  EXPECT_EQ(denied.exit_code, 1) << denied.output;
  EXPECT_THAT(denied.output, HasSubstr("PERMISSION_DENIED"));
  testing::CommandResult unloaded =
      testing::RunCommand(seqclient + " --admin-header admin-key=s3cret unload lenet");
  EXPECT_EQ(unloaded.exit_code, 0) << unloaded.output;
  EXPECT_THAT(unloaded.output, HasSubstr("unloaded lenet"));

  // Without the client certificate the TLS handshake fails.
  testing::CommandResult anonymous = testing::RunCommand(
      absl::StrCat(SEQCLIENT_PATH, " --url 127.0.0.1:", server->grpc_port(), " --root-cert ",
                   certs_.Cert("ca").string(), " health"));
  EXPECT_EQ(anonymous.exit_code, 1) << anonymous.output;
  EXPECT_THAT(anonymous.output, HasSubstr("UNAVAILABLE"));
}

// --metrics-address: /metrics on its own address (127.0.0.2 is loopback too on Linux), not on
// --address.
TEST_F(SecurityTest, MetricsListenOnTheirOwnAddress) {
  ServerOptions options = Options();
  options.metrics_port = 0;
  options.metrics_address = "127.0.0.2";
  std::unique_ptr<Server> server = StartOrDie(options);
  ASSERT_NE(server, nullptr);
  httplib::Client metrics("127.0.0.2", server->metrics_port());
  const httplib::Result scraped = metrics.Get("/metrics");
  ASSERT_TRUE(scraped) << httplib::to_string(scraped.error());
  EXPECT_EQ(scraped->status, 200);
  EXPECT_THAT(scraped->body, HasSubstr("seqserve_model_ready"));
  httplib::Client elsewhere("127.0.0.1", server->metrics_port());
  EXPECT_FALSE(elsewhere.Get("/metrics"));
}

}  // namespace
}  // namespace seqserve
