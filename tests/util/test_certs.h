// TLS certificates made at test time with Debian's openssl CLI (nothing committed, nothing
// that expires in the tree): a test CA, a server certificate it signs for localhost and
// 127.0.0.1, a client certificate it signs, and a second, unrelated CA with a client
// certificate of its own (what a stranger would present). EC P-256 keys, valid for two days.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/util/run_command.h"
#include "tests/util/temp_dir.h"

namespace seqserve::testing {

class TestCerts {
 public:
  TestCerts() : dir_("test_certs") {
    MakeCa("ca", "seqserve test CA");
    MakeCa("rogue_ca", "another CA");
    Sign("server", "ca", "localhost",
         "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    Sign("client", "ca", "seqserve test client", "extendedKeyUsage=clientAuth\n");
    Sign("rogue_client", "rogue_ca", "stranger", "extendedKeyUsage=clientAuth\n");
  }

  // <name>.crt / <name>.key for ca, server, client, rogue_ca, rogue_client.
  std::filesystem::path Cert(const std::string& name) const {
    return dir_.path() / (name + ".crt");
  }
  std::filesystem::path Key(const std::string& name) const {
    return dir_.path() / (name + ".key");
  }
  std::string CertPem(const std::string& name) const { return Read(Cert(name)); }
  std::string KeyPem(const std::string& name) const { return Read(Key(name)); }

 private:
  static std::string Read(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  void Run(const std::string& command) {
    const CommandResult result = RunCommand(command);
    ASSERT_EQ(result.exit_code, 0) << command << "\n" << result.output;
  }

  std::string Path(const std::string& file) const { return (dir_.path() / file).string(); }

  void MakeCa(const std::string& name, const std::string& subject) {
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-keyout " + Path(name + ".key") + " -out " + Path(name + ".crt") + " -subj '/CN=" +
        subject + "' -addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign,cRLSign");
  }

  void Sign(const std::string& name, const std::string& ca, const std::string& subject,
            const std::string& extensions) {
    {
      std::ofstream ext(Path(name + ".ext"));
      ext << "basicConstraints=CA:FALSE\n" << extensions;
    }
    Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
        Path(name + ".key") + " -out " + Path(name + ".csr") + " -subj '/CN=" + subject + "'");
    Run("openssl x509 -req -days 2 -in " + Path(name + ".csr") + " -CA " + Path(ca + ".crt") +
        " -CAkey " + Path(ca + ".key") + " -CAcreateserial -out " + Path(name + ".crt") +
        " -extfile " + Path(name + ".ext"));
  }

  TempDir dir_;
};

}  // namespace seqserve::testing
