// Reading repository files safely: what is refused (FIFOs without waiting for a writer,
// devices, directories, files over the limit, symlinks out of the confining directory) and
// with which message, and that the refusals never carry the file's contents.
#include "common/safe_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/temp_dir.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;
using testing::WriteFile;

template <typename T>
std::string Message(const absl::StatusOr<T>& result) {
  return std::string(result.status().message());
}

TEST(ReadRegularFile, ReadsARegularFileWhole) {
  TempDir dir("safe_file");
  WriteFile(dir.path() / "model.seq", "nn.Sequential(nn.ReLU())\n");
  absl::StatusOr<std::string> text = ReadRegularFile(dir.path() / "model.seq", {});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "nn.Sequential(nn.ReLU())\n");
}

TEST(ReadRegularFile, MissingFileIsNotFound) {
  TempDir dir("safe_file");
  absl::StatusOr<std::string> text = ReadRegularFile(dir.path() / "absent", {});
  EXPECT_TRUE(absl::IsNotFound(text.status())) << text.status();
  EXPECT_THAT(Message(text), EndsWith("absent: no such file"));
}

// Before: std::ifstream on a FIFO blocks until a writer appears, so the test would hang.
TEST(ReadRegularFile, FifoIsRefusedWithoutWaitingForAWriter) {
  TempDir dir("safe_file");
  const fs::path fifo = dir.path() / "model.seq";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  absl::StatusOr<std::string> text = ReadRegularFile(fifo, {});
  EXPECT_TRUE(absl::IsInvalidArgument(text.status())) << text.status();
  EXPECT_EQ(Message(text), fifo.string() + " is a FIFO, not a regular file");
}

// Before: reading /dev/zero whole never ends (or ends in std::bad_alloc).
TEST(ReadRegularFile, DeviceAndDirectoryAreRefused) {
  TempDir dir("safe_file");
  const fs::path zero = dir.path() / "model.seq";
  fs::create_symlink("/dev/zero", zero);
  EXPECT_EQ(Message(ReadRegularFile(zero, {})),
            zero.string() + " is a character device, not a regular file");
  EXPECT_EQ(Message(ReadRegularFile(dir.path(), {})),
            dir.path().string() + " is a directory, not a regular file");
}

TEST(ReadRegularFile, FileOverTheLimitIsRefusedWithTheLimitNamed) {
  TempDir dir("safe_file");
  WriteFile(dir.path() / "config.pbtxt", std::string(2000, '#'));
  FilePolicy policy;
  policy.max_bytes = 1999;
  policy.limit_name = "--max-config-file-bytes";
  absl::StatusOr<std::string> text = ReadRegularFile(dir.path() / "config.pbtxt", policy);
  EXPECT_TRUE(absl::IsInvalidArgument(text.status())) << text.status();
  EXPECT_EQ(Message(text),
            (dir.path() / "config.pbtxt").string() +
                " is 2.0 kB; the limit is 2.0 kB (--max-config-file-bytes=1999)");
  policy.max_bytes = 2000;
  EXPECT_TRUE(ReadRegularFile(dir.path() / "config.pbtxt", policy).ok());
}

TEST(ReadRegularFile, SymlinkOutOfTheConfiningDirectoryIsRefusedUnread) {
  TempDir outside("safe_file_secret");
  WriteFile(outside.path() / "secret.txt", "password: hunter2\n");
  TempDir repository("safe_file_repo");
  const fs::path config = repository.path() / "m" / "config.pbtxt";
  fs::create_directories(config.parent_path());
  fs::create_symlink(outside.path() / "secret.txt", config);

  FilePolicy confined;
  confined.confine_to = repository.path();
  absl::StatusOr<std::string> text = ReadRegularFile(config, confined);
  EXPECT_TRUE(absl::IsInvalidArgument(text.status())) << text.status();
  EXPECT_THAT(Message(text), HasSubstr("a symlink on its path leads outside"));
  EXPECT_THAT(Message(text), HasSubstr("--allow-symlinks-outside-repository"));
  EXPECT_THAT(Message(text), Not(HasSubstr("hunter2")));
  EXPECT_THAT(Message(text), Not(HasSubstr("secret.txt")));

  // A directory symlinked out of the repository leads out just the same.
  const fs::path linked_dir = repository.path() / "linked";
  fs::create_symlink(outside.path(), linked_dir);
  EXPECT_FALSE(ReadRegularFile(linked_dir / "secret.txt", confined).ok());

  // Without confinement (the flag), the link is followed.
  absl::StatusOr<std::string> allowed = ReadRegularFile(config, {});
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(*allowed, "password: hunter2\n");
}

TEST(ReadRegularFile, SymlinkInsideTheConfiningDirectoryIsFollowed) {
  TempDir repository("safe_file_repo");
  WriteFile(repository.path() / "shared" / "model.seq", "nn.Sequential()\n");
  const fs::path seq = repository.path() / "m" / "1" / "model.seq";
  fs::create_directories(seq.parent_path());
  fs::create_symlink("../../shared/model.seq", seq);
  FilePolicy confined;
  // Through a symlink to the repository itself, as a deployment may mount it.
  TempDir elsewhere("safe_file_link");
  fs::create_symlink(repository.path(), elsewhere.path() / "models");
  confined.confine_to = elsewhere.path() / "models";
  absl::StatusOr<std::string> text = ReadRegularFile(seq, confined);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "nn.Sequential()\n");
}

TEST(OpenRegularFile, ReportsTheSize) {
  TempDir dir("safe_file");
  WriteFile(dir.path() / "w", std::string(12345, 'x'));
  absl::StatusOr<OpenedFile> file = OpenRegularFile(dir.path() / "w", {});
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->size_bytes(), 12345u);
  EXPECT_GE(file->fd(), 0);
}

}  // namespace
}  // namespace seqserve
