// What the repository reads from disk: the model directories of its roots (hidden ones
// skipped, a missing root named), a name in two roots refused, file signatures that change
// when a file is replaced, and one model's config, policy and versions as read.
#include "server/repository/model_scan.h"

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/temp_dir.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::WriteFile;

TEST(ScanRoots, ListsModelDirectoriesOfEveryRootButHiddenOnesAndFiles) {
  testing::TempDir a("scan_a"), b("scan_b");
  fs::create_directories(a.path() / "lenet");
  fs::create_directories(a.path() / ".git");
  WriteFile(a.path() / "README", "not a model");
  fs::create_directories(b.path() / "mlp");
  auto dirs = ScanRoots({a.path(), b.path()});
  ASSERT_TRUE(dirs.ok()) << dirs.status();
  ASSERT_EQ(dirs->size(), 2u);
  EXPECT_THAT(dirs->at("lenet"), ElementsAre(a.path() / "lenet"));
  EXPECT_THAT(dirs->at("mlp"), ElementsAre(b.path() / "mlp"));
  EXPECT_TRUE(CheckUnique(*dirs).ok());
}

TEST(ScanRoots, AMissingRootIsNotFoundAndNamed) {
  testing::TempDir a("scan_missing");
  auto dirs = ScanRoots({a.path() / "nowhere"});
  ASSERT_EQ(dirs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(dirs.status().message(),
            "model repository '" + (a.path() / "nowhere").string() + "' does not exist");
}

TEST(ScanRoots, ANameInTwoRootsIsRefusedNamingBoth) {
  testing::TempDir a("scan_dup_a"), b("scan_dup_b");
  fs::create_directories(a.path() / "m");
  fs::create_directories(b.path() / "m");
  auto dirs = ScanRoots({a.path(), b.path()});
  ASSERT_TRUE(dirs.ok()) << dirs.status();
  const absl::Status unique = CheckUnique(*dirs);
  EXPECT_EQ(unique.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unique.message(), "model 'm' is in 2 model repositories: " +
                                  (a.path() / "m").string() + " and " + (b.path() / "m").string());
}

TEST(ReadSignature, AReplacedFileHasAnotherSignatureEvenWithTheSameSize) {
  testing::TempDir dir("scan_signature");
  const fs::path file = dir.path() / "model.seq";
  EXPECT_FALSE(ReadSignature(file, true).exists);
  WriteFile(file, "nn.ReLU()");
  const FileSignature first = ReadSignature(file, /*hash_content=*/true);
  EXPECT_TRUE(first.exists);
  EXPECT_EQ(first.size, 9u);
  EXPECT_EQ(ReadSignature(file, true), first);
  // Same length, other text, put in place by rename as deployment tools do.
  WriteFile(dir.path() / "new.seq", "nn.GELU()");
  fs::rename(dir.path() / "new.seq", file);
  EXPECT_NE(ReadSignature(file, true), first);
}

TEST(ReadDiskModel, ReadsTheConfigItsPolicyAndTheVersions) {
  testing::TempDir dir("scan_model");
  const fs::path model = dir.path() / "m";
  WriteFile(model / "config.pbtxt", "version_policy { all { } }\n");
  WriteFile(model / "1" / "model.seq", "nn.Sequential(nn.ReLU())\n");
  WriteFile(model / "3" / "model.seq", "nn.Sequential(nn.ReLU())\n");
  fs::create_directories(model / "not_a_version");
  const DiskModel found = ReadDiskModel("m", model, {});
  EXPECT_EQ(found.name, "m");
  EXPECT_TRUE(found.config_signature.exists);
  ASSERT_TRUE(found.config.ok()) << found.config.status();
  ASSERT_TRUE(found.policy.ok()) << found.policy.status();
  EXPECT_EQ(found.policy->kind, VersionPolicy::Kind::kAll);
  EXPECT_THAT(found.versions, ElementsAre(1, 3));
  EXPECT_TRUE(found.signatures.at(1).seq.exists);
  EXPECT_FALSE(found.signatures.at(1).weights.exists);
}

TEST(ReadDiskModel, ABrokenConfigIsItsPolicysError) {
  testing::TempDir dir("scan_broken");
  const fs::path model = dir.path() / "m";
  WriteFile(model / "config.pbtxt", "backend: \"onnx\"\n");
  const DiskModel found = ReadDiskModel("m", model, {});
  ASSERT_FALSE(found.policy.ok());
  EXPECT_THAT(found.policy.status().message(), HasSubstr("field 'backend' is not supported"));
}

// Before: ReadSignature hashed a model.seq FIFO with std::ifstream, which waited for a writer
// forever, before any port opened; and read /dev/zero until std::bad_alloc aborted.
TEST(ReadDiskModel, AFifoOrDeviceIsNeverReadAndFailsOnlyItsModel) {
  testing::TempDir dir("scan_fifo");
  const fs::path model = dir.path() / "m";
  fs::create_directories(model / "1");
  fs::create_directories(model / "2");
  ASSERT_EQ(::mkfifo((model / "1" / "model.seq").c_str(), 0600), 0);
  fs::create_symlink("/dev/zero", model / "2" / "model.seq");
  ASSERT_EQ(::mkfifo((model / "config.pbtxt").c_str(), 0600), 0);
  const DiskModel found = ReadDiskModel("m", model, {});
  EXPECT_THAT(found.versions, ElementsAre(1, 2));
  EXPECT_TRUE(found.signatures.at(1).seq.exists);
  EXPECT_EQ(found.signatures.at(1).seq.content_hash, 0u);
  EXPECT_TRUE(found.signatures.at(2).seq.exists);
  ASSERT_FALSE(found.config.ok());
  EXPECT_THAT(found.config.status().message(), HasSubstr("is a FIFO, not a regular file"));
}

// Before: a config.pbtxt symlinked to a file outside the repository was read, and the parse
// error quoted a piece of it in the repository index.
TEST(ReadDiskModel, AConfigLinkedOutOfTheRepositoryIsRefusedUnread) {
  testing::TempDir secrets("scan_secrets");
  WriteFile(secrets.path() / "passwd", "root:x:0:0:root:/root:/bin/bash\n");
  testing::TempDir dir("scan_link");
  const fs::path model = dir.path() / "m";
  WriteFile(model / "1" / "model.seq", "nn.Sequential(nn.ReLU())\n");
  fs::create_symlink(secrets.path() / "passwd", model / "config.pbtxt");
  const DiskModel found =
      ReadDiskModel("m", model, FilePolicy{.max_bytes = 1 << 20, .confine_to = dir.path()});
  ASSERT_FALSE(found.config.ok());
  EXPECT_THAT(found.config.status().message(), HasSubstr("leads outside"));
  EXPECT_THAT(found.config.status().message(), ::testing::Not(HasSubstr("root")));
  EXPECT_FALSE(found.policy.ok());
}

}  // namespace
}  // namespace seqserve
