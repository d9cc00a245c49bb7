// `seqserve check` and `seqserve run` on models that take integer ids: check names the input
// dtype it infers; run reads int64 and int32 .npy files and reproduces PyTorch's output (the
// transformer_textclass golden, made by tests/golden/make_goldens.py with real PyTorch).
#include "server/offline/offline_commands.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/npy.h"
#include "core/precision.h"
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

// check --precision bf16 says what the plan runs in and, where that is bf16, compares it with
// fp32 on random inputs; run --precision bf16 writes an output within bf16's reach of
// PyTorch's (tests/core/bf16_test.cc holds the bound; here: 2e-2 of the output's range).
TEST(OfflineCommands, CheckAndRunTakeAPrecision) {
  const fs::path lenet = fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet";
  ::testing::internal::CaptureStdout();
  int code = RunCheckCommand(
      {.model_dir = lenet.string(), .input_shape = "8,1,28,28", .precision = "bf16"});
  std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, 0) << out;
  if (CpuHasBf16()) {
    EXPECT_THAT(out, HasSubstr("\nprecision bf16\n"));
    EXPECT_THAT(out, HasSubstr("bf16 vs fp32 on 256 random samples: error max "));
    EXPECT_THAT(out, HasSubstr("top-1 agreement "));
    EXPECT_THAT(out, HasSubstr(" of 256 rows)"));
  } else {
    EXPECT_THAT(out, HasSubstr("\nprecision fp32 (bf16 asked for: "));
    EXPECT_THAT(out, ::testing::Not(HasSubstr("vs fp32")));
  }

  const fs::path samples = fs::path(SEQSERVE_TEST_DATA_DIR) / "bundled" / "lenet";
  const fs::path output = TempPath("lenet_bf16");
  ::testing::internal::CaptureStdout();
  code = RunRunCommand({.model_dir = lenet.string(),
                        .input_path = (samples / "input.npy").string(),
                        .output_path = output.string(),
                        .precision = "bf16"});
  out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr(CpuHasBf16() ? "precision bf16)" : "precision fp32 (bf16 asked for"));
  absl::StatusOr<Tensor> got = ReadNpy(output);
  absl::StatusOr<Tensor> expected = ReadNpy(samples / "expected.npy");
  ASSERT_TRUE(got.ok() && expected.ok());
  ASSERT_EQ(got->shape, expected->shape);
  const auto [lo, hi] = std::minmax_element(expected->data.begin(), expected->data.end());
  for (int64_t i = 0; i < got->numel(); ++i) {
    EXPECT_NEAR(got->data[i], expected->data[i], 2e-2 * (*hi - *lo));
  }
  fs::remove(output);

  ::testing::internal::CaptureStderr();
  code = RunCheckCommand({.model_dir = lenet.string(), .precision = "fp16"});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 1);
  EXPECT_EQ(err, "error: unknown precision 'fp16' (supported: fp32, bf16, int8)\n");
}

}  // namespace
}  // namespace seqserve
