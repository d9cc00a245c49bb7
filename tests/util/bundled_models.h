// The bundled example repository (models/) as the server tests use it: copies of its models
// with configs made by the tests, a model that fails to load, the PyTorch goldens of its
// models (tests/data/bundled/<model>/<name>.npy, made by PyTorch with the script beside
// them), and PyTorch's tolerance to compare outputs with.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/npy.h"
#include "common/tensor.h"
#include "gtest/gtest.h"
#include "tests/util/temp_dir.h"

namespace seqserve::testing {

namespace fs = std::filesystem;

// Copies models/<from> to <root>/<to>, replacing its config.pbtxt when `config` is given.
inline void CopyModel(const fs::path& root, const std::string& from, const std::string& to,
                      const std::string& config = "") {
  fs::copy(fs::path(SEQSERVE_SOURCE_DIR) / "models" / from, root / to, fs::copy_options::recursive);
  if (!config.empty()) WriteFile(root / to / "config.pbtxt", config);
}

// <root>/broken: a model whose model.seq names a module that does not exist.
inline void WriteBrokenModel(const fs::path& root) {
  WriteFile(root / "broken" / "1" / "model.seq", "nn.Sequential(nn.Linear(4, 2), nn.Bogus())\n");
}

// LeNet's input and output, for configs written by tests.
inline constexpr char kLenetTensors[] =
    "input [ { name: \"input\" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]\n"
    "output [ { name: \"output\" data_type: TYPE_FP32 dims: [ 10 ] } ]\n";

// For the configs below, whose worker a test holds with a task it enqueues itself
// (server_test_util.h's HoldWorker): that task must run on the worker, not on the test's
// own thread, which a gate would then hold inside Enqueue.
inline constexpr char kNoCallerRun[] =
    "parameters { key: \"run_on_caller\" value: { string_value: \"false\" } }\n";

// LeNet with one worker and a queue of one: a held worker makes the queue full
// deterministically.
inline const std::string kHeldConfig =
    absl::StrCat("max_batch_size: 8\n", kLenetTensors,
                 "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
                 "dynamic_batching { default_queue_policy { max_queue_size: 1 } }\n",
                 kNoCallerRun);

// LeNet with one worker and no batching delay: whatever is queued when the worker frees up
// is one batch.
inline const std::string kOneWorkerConfig =
    absl::StrCat("max_batch_size: 64\n", kLenetTensors,
                 "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
                 "dynamic_batching { }\n", kNoCallerRun);

// A bundled model's golden tensor: tests/data/bundled/<model>/<name>.npy (from PyTorch).
inline Tensor LoadNpy(const std::string& model, const std::string& name) {
  absl::StatusOr<Tensor> tensor =
      ReadNpy(fs::path(SEQSERVE_TEST_DATA_DIR) / "bundled" / model / (name + ".npy"));
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return tensor.ok() ? *tensor : Tensor();
}

// A bundled model's input of any dtype (textclass's int64 ids): tests/data/bundled/<model>/
// <name>.npy.
inline TypedTensor LoadTypedNpy(const std::string& model, const std::string& name) {
  absl::StatusOr<TypedTensor> tensor =
      ReadTypedNpy(fs::path(SEQSERVE_TEST_DATA_DIR) / "bundled" / model / (name + ".npy"));
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return tensor.ok() ? *tensor : TypedTensor();
}

// The ids of rows `rows` of an int64 tensor (textclass's input), in that order.
inline std::vector<int64_t> IdRows(const TypedTensor& ids, const std::vector<int>& rows) {
  const int64_t row = NumElements(ids.shape) / ids.shape[0];
  const auto* values = reinterpret_cast<const int64_t*>(ids.bytes.data());
  std::vector<int64_t> out;
  for (const int r : rows) out.insert(out.end(), values + r * row, values + (r + 1) * row);
  return out;
}

// The text classifier with one worker: a held worker makes the queue fill up and batch.
inline const std::string kTextHeldConfig = absl::StrCat(
    "max_batch_size: 8\n"
    "input [ { name: \"input\" data_type: TYPE_INT64 dims: [ 128 ] } ]\n"
    "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
    "dynamic_batching { }\n",
    kNoCallerRun);

// Rows [first, first + count) of `tensor`.
inline Tensor Rows(const Tensor& tensor, int64_t first, int64_t count) {
  const int64_t row = tensor.numel() / tensor.shape[0];
  if (first < 0 || first + count > tensor.shape[0]) {
    ADD_FAILURE() << "rows [" << first << ", " << first + count << ") of a tensor of "
                  << tensor.shape[0] << " rows";
    return Tensor();
  }
  Shape shape = tensor.shape;
  shape[0] = count;
  return Tensor(shape, std::vector<float>(tensor.data.begin() + first * row,
                                          tensor.data.begin() + (first + count) * row));
}

// The values of rows `rows` of `tensor`, in that order.
inline std::vector<float> RowValues(const Tensor& tensor, const std::vector<int>& rows) {
  const int64_t row = tensor.numel() / tensor.shape[0];
  std::vector<float> values;
  for (const int r : rows) {
    // A row past the golden's end is a bug in the test, not garbage to compare.
    if (r < 0 || r >= tensor.shape[0]) {
      ADD_FAILURE() << "row " << r << " of a tensor of " << tensor.shape[0] << " rows";
      return {};
    }
    values.insert(values.end(), tensor.data.begin() + r * row, tensor.data.begin() + (r + 1) * row);
  }
  return values;
}

// `got` must equal `want` within 1e-4 relative (absolute below 1): PyTorch's tolerance.
inline void ExpectClose(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  int mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::fabs(got[i] - want[i]) > 1e-4f * std::max(1.0f, std::fabs(want[i])) &&
        ++mismatches <= 3) {
      ADD_FAILURE() << "element " << i << ": got " << got[i] << ", PyTorch " << want[i];
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace seqserve::testing
