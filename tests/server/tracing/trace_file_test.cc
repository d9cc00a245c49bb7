// TraceFile: <path> a complete JSON array after every append, <path>.<k> numbered from 0,
// path checks, and a write that fails is logged instead of thrown.
#include "server/tracing/trace_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/temp_dir.h"

namespace seqserve {
namespace {

using json = nlohmann::json;
using seqserve::testing::TempDir;
namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(TraceFile, AppendsKeepTheFileOneCompleteArray) {
  TempDir dir("seqserve_trace_file");
  const fs::path path = dir.path() / "trace.json";
  {
    std::ofstream old(path);
    old << "old contents";
  }
  TraceFile file(path.string());
  EXPECT_EQ(Read(path), "old contents");  // nothing written before the first append
  file.Append(R"({"id":1},{"id":1,"timestamps":[]})");
  EXPECT_EQ(json::parse(Read(path)), json::parse(R"([{"id":1},{"id":1,"timestamps":[]}])"));
  file.Append(R"({"id":2})");
  file.Append("");  // nothing
  EXPECT_EQ(Read(path), R"([{"id":1},{"id":1,"timestamps":[]},{"id":2}])");
}

TEST(TraceFile, NumberedFilesCountFromZero) {
  TempDir dir("seqserve_trace_file");
  const fs::path path = dir.path() / "t";
  TraceFile file(path.string());
  EXPECT_EQ(file.next_number(), 0u);
  file.WriteNumbered(R"({"id":1})");
  file.WriteNumbered(R"({"id":2},{"id":3})");
  EXPECT_EQ(file.next_number(), 2u);
  EXPECT_EQ(Read(dir.path() / "t.0"), R"([{"id":1}])");
  EXPECT_EQ(Read(dir.path() / "t.1"), R"([{"id":2},{"id":3}])");
  EXPECT_FALSE(fs::exists(path));
}

TEST(TraceFile, CheckPathRefusesWhatCannotBeAFile) {
  TempDir dir("seqserve_trace_file");
  EXPECT_TRUE(TraceFile::CheckPath((dir.path() / "trace.json").string()).ok());
  absl::Status empty = TraceFile::CheckPath("");
  EXPECT_TRUE(absl::IsInvalidArgument(empty));
  absl::Status directory = TraceFile::CheckPath(dir.path().string());
  EXPECT_TRUE(absl::IsInvalidArgument(directory));
  EXPECT_THAT(directory.message(), ::testing::HasSubstr("is a directory"));
  absl::Status missing = TraceFile::CheckPath((dir.path() / "no" / "trace.json").string());
  EXPECT_TRUE(absl::IsInvalidArgument(missing));
  EXPECT_THAT(missing.message(), ::testing::HasSubstr("does not exist"));
}

TEST(TraceFile, AFailedWriteDropsTheTracesWithoutThrowing) {
  TempDir dir("seqserve_trace_file");
  const fs::path gone = dir.path() / "gone";
  fs::create_directory(gone);
  TraceFile file((gone / "trace.json").string());
  fs::remove(gone);
  file.Append(R"({"id":1})");
  file.WriteNumbered(R"({"id":1})");
  EXPECT_FALSE(fs::exists(gone));
}

}  // namespace
}  // namespace seqserve
