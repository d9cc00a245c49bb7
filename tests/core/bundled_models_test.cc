// Every model of the bundled repository (models/, made by models/make_models.py with real
// PyTorch) reproduces PyTorch's outputs on its samples in tests/data/bundled/<model>/
// (input.npy: float32 images or int64 ids; expected.npy: PyTorch's output), through the
// engine alone. The server, client and container tests serve the same models.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "common/npy.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> BundledModels() {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(fs::path(SEQSERVE_SOURCE_DIR) / "models")) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(BundledModels, TheRepositoryHoldsTheModelsTheReadmeNames) {
  EXPECT_EQ(BundledModels(),
            (std::vector<std::string>{"lenet", "mlp", "seed", "superres", "textclass"}));
}

TEST(BundledModels, EachReproducesPyTorchOnItsSamples) {
  Executor executor(CpuEngine());
  for (const std::string& name : BundledModels()) {
    SCOPED_TRACE(name);
    const fs::path samples = fs::path(SEQSERVE_TEST_DATA_DIR) / "bundled" / name;
    absl::StatusOr<TypedTensor> input = ReadTypedNpy(samples / "input.npy");
    absl::StatusOr<Tensor> expected = ReadNpy(samples / "expected.npy");
    ASSERT_TRUE(input.ok()) << input.status();
    ASSERT_TRUE(expected.ok()) << expected.status();
    auto model = Model::Load(fs::path(SEQSERVE_SOURCE_DIR) / "models" / name / "1");
    ASSERT_TRUE(model.ok()) << model.status();
    absl::StatusOr<Tensor> output = (*model)->Run(executor, input->view());
    ASSERT_TRUE(output.ok()) << output.status();
    ASSERT_EQ(output->shape, expected->shape);
    int mismatches = 0;
    for (int64_t i = 0; i < output->numel(); ++i) {
      const float want = expected->data[i];
      if (std::fabs(output->data[i] - want) > 1e-4f * std::max(1.0f, std::fabs(want)) &&
          ++mismatches <= 3) {
        ADD_FAILURE() << "element " << i << ": " << output->data[i] << ", PyTorch " << want;
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

}  // namespace
}  // namespace seqserve
