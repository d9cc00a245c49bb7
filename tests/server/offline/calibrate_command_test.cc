// `seqserve calibrate` (server/offline/calibrate_command.h) on a copy of the bundled LeNet
// with images of its task (tests/data/int8/, made by PyTorch: tests/golden/make_int8_data.py):
// it writes the ranges beside the model, prints them and int8's agreement with fp32 on the
// held-out fifth; a model configured int8 then loads from that file, and `check --precision
// int8` runs it. The accuracy bounds themselves are tests/core/int8_test.cc's.
#include "server/offline/calibrate_command.h"

#include <filesystem>
#include <string>

#include "common/npy.h"
#include "core/int8_calibration.h"
#include "core/precision.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/offline/offline_commands.h"
#include "tests/util/temp_dir.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kImages = fs::path(SEQSERVE_TEST_DATA_DIR) / "int8" / "lines_calibration.npy";

class CalibrateCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(model_ / "1");
    const fs::path lenet = fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet" / "1";
    fs::copy(lenet / "model.seq", model_ / "1" / "model.seq");
    fs::copy(lenet / "model.safetensors", model_ / "1" / "model.safetensors");
  }

  // Runs the command; returns {exit code, stdout, stderr}.
  struct Result {
    int code;
    std::string out, err;
  };
  Result Run(CalibrateOptions options) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = RunCalibrateCommand(options);
    std::string out = ::testing::internal::GetCapturedStdout();
    std::string err = ::testing::internal::GetCapturedStderr();
    return {code, out, err};
  }

  testing::TempDir temp_{"calibrate"};
  fs::path model_ = temp_.path() / "lenet";
};

TEST_F(CalibrateCommandTest, WritesTheRangesBesideTheModelAndReportsInt8Accuracy) {
  const Result r = Run({.model_dir = model_.string(), .data_path = kImages.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("calibrated on 103 samples of "));  // 128 minus every fifth
  EXPECT_THAT(r.out, HasSubstr("\n0                        Conv2d   "));
  EXPECT_THAT(r.out, HasSubstr("  s8\n"));  // the images have negative noise
  EXPECT_THAT(r.out, HasSubstr("\n11                       Linear   "));
  EXPECT_THAT(r.out, HasSubstr("wrote " + (model_ / "1" / "int8_calibration.txt").string()));
  if (CpuHasVnni()) {
    EXPECT_THAT(r.out, HasSubstr("int8 vs fp32 on 25 held-out samples (every fifth of --data): "
                                 "error max "));
    EXPECT_THAT(r.out, HasSubstr("top-1 agreement 100.0% (25 of 25 rows)"));
  } else {
    EXPECT_THAT(r.out, HasSubstr("accuracy: not measured: precision int8 needs a CPU with"));
  }
  ASSERT_TRUE(fs::exists(model_ / "1" / kInt8CalibrationFile));

  // check --precision int8 loads the model with that file.
  ::testing::internal::CaptureStdout();
  const int code = RunCheckCommand(
      {.model_dir = model_.string(), .input_shape = "4,1,28,28", .precision = "int8"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, 0) << out;
  if (CpuHasVnni()) {
    EXPECT_THAT(out, HasSubstr("\nprecision int8\n"));
    EXPECT_THAT(out, HasSubstr("int8 vs fp32 on 128 random samples: error max "));
  } else {
    EXPECT_THAT(out, HasSubstr("\nprecision fp32 (int8 asked for: "));
  }
}

TEST_F(CalibrateCommandTest, AHoldoutFileIsMeasuredOnInFull) {
  const fs::path holdout = fs::path(SEQSERVE_TEST_DATA_DIR) / "int8" / "lines_heldout.npy";
  const fs::path output = temp_.path() / "ranges.txt";
  const Result r = Run({.model_dir = model_.string(),
                        .data_path = kImages.string(),
                        .holdout_path = holdout.string(),
                        .percentile = 100,
                        .output_path = output.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("calibrated on 128 samples of "));
  EXPECT_THAT(r.out, HasSubstr("(percentile 100 of |x|)"));
  if (CpuHasVnni()) {
    EXPECT_THAT(r.out, HasSubstr("int8 vs fp32 on 256 held-out samples of "));
  }
  EXPECT_TRUE(fs::exists(output));
  EXPECT_FALSE(fs::exists(model_ / "1" / kInt8CalibrationFile));
}

TEST_F(CalibrateCommandTest, SamplesThatDoNotFitTheModelAreAnErrorNamingTheFile) {
  const fs::path wrong = temp_.path() / "wrong.npy";
  ASSERT_TRUE(WriteNpy(wrong, Tensor({4, 3, 28, 28})).ok());
  const Result r = Run({.model_dir = model_.string(), .data_path = wrong.string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("error: " + wrong.string() +
                               ": samples of shape [4, 3, 28, 28] do not fit the model: "));
  EXPECT_FALSE(fs::exists(model_ / "1" / kInt8CalibrationFile));

  const Result missing =
      Run({.model_dir = model_.string(), .data_path = (temp_.path() / "none.npy").string()});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("none.npy"));
}

}  // namespace
}  // namespace seqserve
