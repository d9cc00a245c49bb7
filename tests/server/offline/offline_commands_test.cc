// `seqserve check` and `seqserve run` on models that take integer ids: check names the input
// dtype it infers; run reads int64 and int32 .npy files and reproduces PyTorch's output (the
// transformer_textclass golden, made by tests/golden/make_goldens.py with real PyTorch).
#include "server/offline/offline_commands.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kCase = fs::path(SEQSERVE_TEST_DATA_DIR) / "golden" / "transformer_textclass";

fs::path TempPath(const std::string& name) {
  return fs::path(::testing::TempDir()) / (name + "." + std::to_string(::getpid()) + ".npy");
}

void ExpectMatchesGolden(const fs::path& output) {
  absl::StatusOr<Tensor> got = ReadNpy(output);
  absl::StatusOr<Tensor> expected = ReadNpy(kCase / "expected_0.npy");
  ASSERT_TRUE(got.ok() && expected.ok());
  ASSERT_EQ(got->shape, expected->shape);
  for (int64_t i = 0; i < got->numel(); ++i) {
    EXPECT_NEAR(got->data[i], expected->data[i], 1e-5 + 1e-4 * std::fabs(expected->data[i]));
  }
}

TEST(OfflineCommands, CheckShowsTheIdInputItInfers) {
  ::testing::internal::CaptureStdout();
  const int code = RunCheckCommand({.model_dir = kCase.string()});
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 0) << out;
  // Embedding takes any sequence length; Linear(16 * 6, 3) after Flatten fixes it at 6.
  EXPECT_THAT(out, HasSubstr("input [1, 6] int64 (or int32)"));
  EXPECT_THAT(out, HasSubstr("Embedding"));
  EXPECT_THAT(out, HasSubstr("TransformerEncoder"));
}

TEST(OfflineCommands, RunReadsInt64AndInt32Ids) {
  const fs::path out64 = TempPath("out64");
  ::testing::internal::CaptureStdout();
  int code = RunRunCommand({.model_dir = kCase.string(),
                            .input_path = (kCase / "input_0.npy").string(),
                            .output_path = out64.string()});
  std::string printed = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, 0) << printed;
  EXPECT_THAT(printed, HasSubstr("int64 [1, 6] -> "));
  ExpectMatchesGolden(out64);
  fs::remove(out64);

  // The same ids as int32.
  absl::StatusOr<TypedTensor> ids = ReadTypedNpy(kCase / "input_0.npy");
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_EQ(ids->dtype, DType::kInt64);
  TypedTensor narrow{DType::kInt32, ids->shape, {}};
  for (size_t i = 0; i < ids->bytes.size() / 8; ++i) {
    int64_t v;
    std::memcpy(&v, ids->bytes.data() + 8 * i, 8);
    const int32_t w = static_cast<int32_t>(v);
    const auto* p = reinterpret_cast<const uint8_t*>(&w);
    narrow.bytes.insert(narrow.bytes.end(), p, p + 4);
  }
  const fs::path in32 = TempPath("in32"), out32 = TempPath("out32");
  ASSERT_TRUE(WriteNpy(in32, narrow).ok());
  ::testing::internal::CaptureStdout();
  code = RunRunCommand(
      {.model_dir = kCase.string(), .input_path = in32.string(), .output_path = out32.string()});
  printed = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, 0) << printed;
  EXPECT_THAT(printed, HasSubstr("int32 [1, 6] -> "));
  ExpectMatchesGolden(out32);
  fs::remove(in32);
  fs::remove(out32);
}

TEST(OfflineCommands, RunRejectsIdsOutOfRangeAndFloatInput) {
  TypedTensor bad{DType::kInt64, {1, 6}, std::vector<uint8_t>(48, 0)};
  const int64_t id = 20;  // num_embeddings is 20
  std::memcpy(bad.bytes.data() + 8 * 4, &id, 8);
  const fs::path in = TempPath("bad"), out = TempPath("unused");
  ASSERT_TRUE(WriteNpy(in, bad).ok());
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunRunCommand(
                {.model_dir = kCase.string(), .input_path = in.string(), .output_path = out.string()}),
            1);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              HasSubstr("error: 0 (Embedding): id 20 at position [0, 4] of the input is out of "
                        "range: num_embeddings is 20, so ids must be in [0, 19]"));

  ASSERT_TRUE(WriteNpy(in, Tensor({1, 6})).ok());
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunRunCommand(
                {.model_dir = kCase.string(), .input_path = in.string(), .output_path = out.string()}),
            1);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              HasSubstr("error: the model takes int64 or int32 input, as its first module 0 "
                        "(Embedding) does; got float32"));
  fs::remove(in);
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace seqserve
