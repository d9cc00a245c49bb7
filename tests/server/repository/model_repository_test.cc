// The model repository on real directories: each test builds its repositories in a fresh
// temporary directory, mostly from a tiny model written here — Linear(2, 2) with weights
// diag(s, s) and no bias, then ReLU — so that the input [1, 1] comes out as [s, s] and an
// answer tells which weights served it. Files are replaced the way deployment tools do it
// (write a temporary file, rename it over the old one).
// Waits are on notifications and counters (with generous timeouts that only turn a bug into
// a failure instead of a hang), never on sleeps.
#include "server/repository/model_repository.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/tensor.h"
#include "core/precision.h"
#include "common/npy.h"
#include "core/calibrator.h"
#include "core/int8_calibration.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduling/infer_task.h"
#include "tests/util/gate.h"
#include "tests/util/temp_dir.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::Gate;
using testing::kGuard;
using testing::TempDir;
using testing::WriteFile;

constexpr char kTinySeq[] = "nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU())\n";

// A float32 safetensors file holding `tensors`.
void WriteSafetensors(const fs::path& path, const std::map<std::string, Tensor>& tensors) {
  std::string header = "{";
  std::string data;
  for (const auto& [name, tensor] : tensors) {
    if (header.size() > 1) header += ",";
    std::string shape;
    for (int64_t d : tensor.shape) {
      if (!shape.empty()) shape += ",";
      shape += std::to_string(d);
    }
    const size_t begin = data.size();
    data.append(reinterpret_cast<const char*>(tensor.data.data()), tensor.data.size() * 4);
    header += "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::string bytes(8, '\0');
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  WriteFile(path, bytes + header + data);
}

// The tiny model as version `version` of `model_dir`, answering [s, s] to [1, 1].
void WriteTinyVersion(const fs::path& model_dir, int64_t version, float s) {
  const fs::path dir = model_dir / std::to_string(version);
  WriteFile(dir / "model.seq", kTinySeq);
  WriteSafetensors(dir / "model.safetensors", {{"0.weight", Tensor({2, 2}, {s, 0, 0, s})}});
}

void WriteConfig(const fs::path& model_dir, const std::string& text) {
  WriteFile(model_dir / "config.pbtxt", text);
}

void CopyLenet(const fs::path& model_dir) {
  const fs::path source = fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet";
  fs::create_directories(model_dir);
  fs::copy(source / "1", model_dir / "1", fs::copy_options::recursive);
  fs::copy_file(source / "config.pbtxt", model_dir / "config.pbtxt");
}

// What a request saw.
struct Outcome {
  absl::Status status = absl::UnknownError("not finished");
  std::vector<float> output;
};

// A request as a front end makes it: the task holds the servable's handle until the
// scheduler destroys it (on a worker), so the version cannot go away under it.
class FrontEndTask : public InferTask {
 public:
  FrontEndTask(std::shared_ptr<ServableModel> servable, Tensor input,
               std::function<void(Outcome)> done, Gate* gate)
      : servable_(std::move(servable)),
        input_(std::move(input)),
        done_(std::move(done)),
        gate_(gate) {}

  const Shape& input_shape() const override { return input_.shape; }
  const void* input_data() const override { return input_.data.data(); }
  float* MutableOutput(const Shape& shape) override {
    if (gate_ != nullptr) {
      gate_->entered.Notify();
      gate_->release.WaitForNotification();
    }
    output_.assign(static_cast<size_t>(NumElements(shape)), std::nanf(""));
    return output_.data();
  }
  void Finish(const absl::Status& status) override { done_(Outcome{status, std::move(output_)}); }

 private:
  std::shared_ptr<ServableModel> servable_;
  Tensor input_;
  std::vector<float> output_;
  std::function<void(Outcome)> done_;
  Gate* gate_;
};

// Sends [1, 1] (one row) to `servable` and waits for the answer. Like a real front end it
// keeps its own handle until Enqueue returns: the task (which holds one too) may be answered
// and released before then, and with it the version's last other reference.
Outcome Infer(std::shared_ptr<ServableModel> servable) {
  absl::Notification finished;
  Outcome outcome;
  Scheduler& scheduler = *servable->scheduler;
  scheduler.Enqueue(std::make_unique<FrontEndTask>(
      servable, Tensor({1, 2}, {1, 1}),
      [&](Outcome o) {
        outcome = std::move(o);
        finished.Notify();
      },
      nullptr));
  if (!finished.WaitForNotificationWithTimeout(kGuard))
    outcome.status = absl::DeadlineExceededError("hung");
  return outcome;
}

// Infers through Get(name) and returns the s the answer [s, s] shows, or -1 on an error.
float ServedScale(const ModelRepository& repository, const std::string& name) {
  absl::StatusOr<std::shared_ptr<ServableModel>> servable = repository.Get(name);
  EXPECT_TRUE(servable.ok()) << servable.status();
  if (!servable.ok()) return -1;
  Outcome outcome = Infer(*std::move(servable));
  EXPECT_TRUE(outcome.status.ok()) << outcome.status;
  if (!outcome.status.ok() || outcome.output.size() != 2) return -1;
  EXPECT_EQ(outcome.output[0], outcome.output[1]);
  return outcome.output[0];
}

std::vector<int64_t> VersionsIn(const ModelRepository& repository, const std::string& name,
                                ModelState state) {
  std::vector<int64_t> versions;
  for (const ModelVersionStatus& status : repository.Index()) {
    if (status.name == name && status.state == state) versions.push_back(status.version);
  }
  return versions;
}

std::optional<ModelVersionStatus> StatusOf(const ModelRepository& repository,
                                           const std::string& name, int64_t version) {
  for (const ModelVersionStatus& status : repository.Index()) {
    if (status.name == name && status.version == version) return status;
  }
  return std::nullopt;
}

// Records the readiness listener's calls.
class ReadinessLog {
 public:
  void Attach(ModelRepository& repository) {
    repository.SetReadinessListener([this](const std::string& name, bool ready) {
      absl::MutexLock lock(&mu_);
      calls_.emplace_back(name, ready);
    });
  }
  std::optional<bool> Last(const std::string& name) const {
    absl::MutexLock lock(&mu_);
    for (auto it = calls_.rbegin(); it != calls_.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return std::nullopt;
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return calls_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::pair<std::string, bool>> calls_ ABSL_GUARDED_BY(mu_);
};

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    base_ = fs::path(::testing::TempDir()) /
            (std::string("model_repository_test_") + info->name() + "_" + std::to_string(getpid()));
    fs::remove_all(base_);
    root_ = base_ / "models";
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(base_); }

  RepositoryOptions Options(ModelControlMode mode) const {
    RepositoryOptions options;
    options.roots = {root_};
    options.mode = mode;
    options.load_threads = 2;
    options.available_cpus = 1;
    return options;
  }

  std::unique_ptr<ModelRepository> CreateOrDie(const RepositoryOptions& options) {
    absl::StatusOr<std::unique_ptr<ModelRepository>> repository = ModelRepository::Create(options);
    EXPECT_TRUE(repository.ok()) << repository.status();
    return repository.ok() ? *std::move(repository) : nullptr;
  }

  fs::path base_;
  fs::path root_;
  // Outlives the repositories the tests make: their Stop calls the listener.
  ReadinessLog readiness_;
};

TEST_F(ModelRepositoryTest, LoadsEveryModelAndABrokenOneIsUnavailableWithItsError) {
  CopyLenet(root_ / "lenet");
  WriteTinyVersion(root_ / "tiny", 1, 2.0f);
  fs::create_directories(root_ / "bad" / "1");
  WriteFile(root_ / "bad" / "1" / "model.seq",
            "nn.Sequential(\n  nn.Linear(2, 2),\n  nn.Bogus(3),\n)\n");
  fs::create_directories(root_ / "empty");

  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kNone));
  ASSERT_NE(repository, nullptr);

  EXPECT_EQ(VersionsIn(*repository, "lenet", ModelState::kReady), std::vector<int64_t>{1});
  EXPECT_EQ(VersionsIn(*repository, "tiny", ModelState::kReady), std::vector<int64_t>{1});
  std::optional<ModelVersionStatus> bad = StatusOf(*repository, "bad", 1);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->state, ModelState::kUnavailable);
  EXPECT_THAT(bad->reason, HasSubstr("model.seq:3:"));
  EXPECT_THAT(bad->reason, HasSubstr("Bogus"));
  std::optional<ModelVersionStatus> empty = StatusOf(*repository, "empty", 0);
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->state, ModelState::kUnavailable);
  EXPECT_EQ(empty->reason, "no version directories");

  // The good ones serve; lenet's completed config came from its config.pbtxt.
  EXPECT_EQ(ServedScale(*repository, "tiny"), 2.0f);
  absl::StatusOr<std::shared_ptr<ServableModel>> lenet = repository->Get("lenet");
  ASSERT_TRUE(lenet.ok()) << lenet.status();
  EXPECT_EQ((*lenet)->version, 1);
  EXPECT_EQ((*lenet)->config.max_batch_size, 64);
  EXPECT_EQ((*lenet)->config.input_dims, (Shape{1, 28, 28}));
  // Warmed up: the plan for one request is compiled already.
  EXPECT_EQ((*lenet)->model->cached_plans(), 1u);
}

// config.pbtxt's parameters "precision" reaches the loaded model: bf16 where the CPU has
// AVX512_BF16 (else fp32, said in the completed config), and int8 without its calibration
// file fails that model's load alone, saying how to make it.
TEST_F(ModelRepositoryTest, ThePrecisionParameterReachesTheModelAndABadOneFailsItsLoad) {
  CopyLenet(root_ / "lenet");
  WriteConfig(root_ / "lenet",
              "max_batch_size: 8\n"
              "input [ { dims: [ 1, 28, 28 ] } ]\n"
              "parameters { key: \"precision\" value: { string_value: \"bf16\" } }\n");
  WriteTinyVersion(root_ / "tiny", 1, 2.0f);
  WriteConfig(root_ / "tiny",
              "max_batch_size: 1\n"
              "parameters { key: \"precision\" value: { string_value: \"int8\" } }\n");
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kNone));
  ASSERT_NE(repository, nullptr);

  absl::StatusOr<std::shared_ptr<ServableModel>> lenet = repository->Get("lenet");
  ASSERT_TRUE(lenet.ok()) << lenet.status();
  EXPECT_EQ((*lenet)->model->options().precision, Precision::kBf16);
  const Precision runs = CpuHasBf16() ? Precision::kBf16 : Precision::kFp32;
  EXPECT_EQ((*lenet)->model->precision(), runs);
  EXPECT_EQ((*lenet)->config.config.parameters().at("precision").string_value(),
            std::string(PrecisionName(runs)));

  std::optional<ModelVersionStatus> tiny = StatusOf(*repository, "tiny", 1);
  ASSERT_TRUE(tiny.has_value());
  EXPECT_EQ(tiny->state, ModelState::kUnavailable);
  EXPECT_THAT(tiny->reason, HasSubstr("precision int8 needs calibration data, and "));
  EXPECT_THAT(tiny->reason, HasSubstr("int8_calibration.txt does not exist; make it with "
                                      "`seqserve calibrate "));
}

// A model configured int8 with its calibration file beside it (as `seqserve calibrate` writes
// it, from images of the model's task: tests/data/int8/) serves in int8 where the CPU has
// VNNI, and says which precision it runs in the completed config.
TEST_F(ModelRepositoryTest, AnInt8ModelWithItsCalibrationServesInInt8) {
  CopyLenet(root_ / "lenet");
  WriteConfig(root_ / "lenet",
              "max_batch_size: 8\n"
              "input [ { dims: [ 1, 28, 28 ] } ]\n"
              "parameters { key: \"precision\" value: { string_value: \"int8\" } }\n");
  {
    absl::StatusOr<std::shared_ptr<Model>> fp32 = Model::Load(root_ / "lenet" / "1");
    ASSERT_TRUE(fp32.ok()) << fp32.status();
    absl::StatusOr<TypedTensor> images =
        ReadTypedNpy(fs::path(SEQSERVE_TEST_DATA_DIR) / "int8" / "lines_calibration.npy");
    ASSERT_TRUE(images.ok()) << images.status();
    absl::StatusOr<Int8Calibration> calibration = CalibrateInt8(**fp32, *images, {});
    ASSERT_TRUE(calibration.ok()) << calibration.status();
    ASSERT_TRUE(
        WriteInt8Calibration(root_ / "lenet" / "1" / kInt8CalibrationFile, *calibration).ok());
  }
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kNone));
  ASSERT_NE(repository, nullptr);
  absl::StatusOr<std::shared_ptr<ServableModel>> lenet = repository->Get("lenet");
  ASSERT_TRUE(lenet.ok()) << lenet.status();
  const Precision runs = CpuHasVnni() ? Precision::kInt8 : Precision::kFp32;
  EXPECT_EQ((*lenet)->model->precision(), runs);
  EXPECT_EQ((*lenet)->config.config.parameters().at("precision").string_value(),
            std::string(PrecisionName(runs)));
  ASSERT_NE((*lenet)->model->calibration(), nullptr);
  EXPECT_EQ((*lenet)->model->calibration()->inputs.size(), 5u);
}

// A safetensors header claiming one F32 tensor of `shape`, over a sparse data area of that
// size: the file takes no space, whatever it claims.
void WriteSparseSafetensors(const fs::path& path, const std::string& name, const Shape& shape) {
  uint64_t bytes = 4;
  std::string dims;
  for (int64_t d : shape) {
    bytes *= static_cast<uint64_t>(d);
    if (!dims.empty()) dims += ",";
    dims += std::to_string(d);
  }
  const std::string header = "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + dims +
                             "],\"data_offsets\":[0," + std::to_string(bytes) + "]}}";
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  WriteFile(path, prefix + header);
  fs::resize_file(path, prefix.size() + header.size() + bytes);
}

// Before: the FIFO hung Create (and the server's start-up, before any port opened), /dev/zero
// aborted the process on std::bad_alloc, the linked config.pbtxt's contents showed in the
// index, Linear(100000, 100000) met the kernel's overcommit, intra_op_threads: 100000 ended
// the process in libgomp and count: 4096 started 4,096 threads. Now each fails its own load
// with a reason, and the good model serves.
TEST_F(ModelRepositoryTest, HostileModelsFailTheirOwnLoadWithAReasonAndTheGoodOneServes) {
  TempDir secrets("repository_secrets");
  WriteFile(secrets.path() / "passwd", "root:x:0:0:root:/root:/bin/bash\n");
  WriteTinyVersion(root_ / "good", 1, 3.0f);
  fs::create_directories(root_ / "fifo" / "1");
  ASSERT_EQ(::mkfifo((root_ / "fifo" / "1" / "model.seq").c_str(), 0600), 0);
  fs::create_directories(root_ / "zero" / "1");
  fs::create_symlink("/dev/zero", root_ / "zero" / "1" / "model.seq");
  WriteTinyVersion(root_ / "secret", 1, 1.0f);
  fs::create_symlink(secrets.path() / "passwd", root_ / "secret" / "config.pbtxt");
  WriteFile(root_ / "huge" / "1" / "model.seq",
            "nn.Sequential(nn.Linear(100000, 100000, bias=False))\n");
  WriteSparseSafetensors(root_ / "huge" / "1" / "model.safetensors", "0.weight",
                         {100000, 100000});
  WriteTinyVersion(root_ / "threads", 1, 1.0f);
  WriteConfig(root_ / "threads", "intra_op_threads: 100000\n");
  WriteTinyVersion(root_ / "workers", 1, 1.0f);
  WriteConfig(root_ / "workers", "instance_group [ { count: 4096 } ]\n");

  RepositoryOptions options = Options(ModelControlMode::kNone);
  options.file_limits.max_parameter_bytes_name = "--max-model-bytes";
  std::unique_ptr<ModelRepository> repository = CreateOrDie(options);
  ASSERT_NE(repository, nullptr);
  EXPECT_EQ(ServedScale(*repository, "good"), 3.0f);

  auto reason = [&](const std::string& name, int64_t version) {
    std::optional<ModelVersionStatus> status = StatusOf(*repository, name, version);
    EXPECT_TRUE(status.has_value()) << name;
    if (!status) return std::string();
    EXPECT_EQ(status->state, ModelState::kUnavailable) << name;
    return status->reason;
  };
  EXPECT_THAT(reason("fifo", 1), HasSubstr("model.seq is a FIFO, not a regular file"));
  EXPECT_THAT(reason("zero", 1), HasSubstr("model.seq is a character device, not a regular file"));
  const std::string secret = reason("secret", 0);
  EXPECT_THAT(secret, HasSubstr("config.pbtxt: a symlink on its path leads outside"));
  EXPECT_THAT(secret, ::testing::Not(HasSubstr("root:")));
  EXPECT_THAT(secret, ::testing::Not(HasSubstr("bash")));
  EXPECT_THAT(reason("huge", 1),
              HasSubstr("model.seq: 0 (Linear) needs 40.0 GB of parameters; the limit is 4.3 GB "
                        "(--max-model-bytes=4294967296)"));
  EXPECT_THAT(reason("threads", 1),
              HasSubstr("intra_op_threads 100000 is more than the 1 CPU this process may use"));
  EXPECT_THAT(reason("workers", 1),
              HasSubstr("instance_group count 4096 x intra_op_threads 1 = 4096 worker threads; "
                        "the CPU budget of 1 CPU allows at most 4 per model"));
}

TEST_F(ModelRepositoryTest, SymlinksOutOfTheRepositoryAreFollowedOnlyWhenAllowed) {
  TempDir elsewhere("repository_elsewhere");
  WriteTinyVersion(elsewhere.path() / "shared", 1, 5.0f);
  fs::create_directories(root_ / "linked" / "1");
  for (const char* file : {"model.seq", "model.safetensors"}) {
    fs::create_symlink(elsewhere.path() / "shared" / "1" / file, root_ / "linked" / "1" / file);
  }
  // A link that stays inside the repository is fine either way.
  WriteTinyVersion(root_ / "inner", 1, 6.0f);
  fs::create_directories(root_ / "alias" / "1");
  fs::create_symlink("../../inner/1/model.seq", root_ / "alias" / "1" / "model.seq");
  fs::create_symlink("../../inner/1/model.safetensors",
                     root_ / "alias" / "1" / "model.safetensors");
  {
    std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kNone));
    ASSERT_NE(repository, nullptr);
    std::optional<ModelVersionStatus> linked = StatusOf(*repository, "linked", 1);
    ASSERT_TRUE(linked.has_value());
    EXPECT_EQ(linked->state, ModelState::kUnavailable);
    EXPECT_THAT(linked->reason, HasSubstr("--allow-symlinks-outside-repository"));
    EXPECT_EQ(ServedScale(*repository, "alias"), 6.0f);
  }
  RepositoryOptions allow = Options(ModelControlMode::kNone);
  allow.allow_symlinks_outside_repository = true;
  std::unique_ptr<ModelRepository> repository = CreateOrDie(allow);
  ASSERT_NE(repository, nullptr);
  EXPECT_EQ(ServedScale(*repository, "linked"), 5.0f);
}

// The server-wide cap counts every loaded version's workers x intra_op_threads; an unload
// gives its threads back. With one CPU each tiny model runs one worker of one thread.
TEST_F(ModelRepositoryTest, TheServerWideThreadCapRefusesTheModelThatDoesNotFit) {
  for (const char* name : {"a", "b", "c"}) WriteTinyVersion(root_ / name, 1, 1.0f);
  RepositoryOptions options = Options(ModelControlMode::kExplicit);
  options.max_worker_threads = 2;
  std::unique_ptr<ModelRepository> repository = CreateOrDie(options);
  ASSERT_NE(repository, nullptr);
  EXPECT_TRUE(repository->Load("a").ok());
  EXPECT_TRUE(repository->Load("b").ok());
  absl::Status c = repository->Load("c");
  EXPECT_TRUE(absl::IsInvalidArgument(c)) << c;
  EXPECT_THAT(c.message(),
              HasSubstr("model 'c' version 1 (1 worker x 1 intra_op_threads) needs 1 worker "
                        "thread, but only 0 of the server's 2 are free (--max-worker-threads=2"));
  ASSERT_TRUE(repository->Unload("a").ok());
  EXPECT_TRUE(repository->Load("c").ok());
  EXPECT_EQ(ServedScale(*repository, "c"), 1.0f);
}

// Before: an explicit RepositoryModelLoad of such a model ended the whole server.
TEST_F(ModelRepositoryTest, ExplicitLoadOfAModelWiderThanTheCpuBudgetFailsWithTheReason) {
  WriteTinyVersion(root_ / "wide", 1, 1.0f);
  WriteConfig(root_ / "wide", "intra_op_threads: 30000\n");
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kExplicit));
  ASSERT_NE(repository, nullptr);
  absl::Status load = repository->Load("wide");
  EXPECT_FALSE(load.ok());
  EXPECT_THAT(load.message(),
              HasSubstr("config.pbtxt: intra_op_threads 30000 is more than the 1 CPU this "
                        "process may use (the CPU budget); at most 1"));
}

TEST_F(ModelRepositoryTest, GetReportsUnknownModelsVersionsAndWhyAVersionIsNotReady) {
  WriteTinyVersion(root_ / "tiny", 1, 1.0f);
  fs::create_directories(root_ / "bad" / "1");
  WriteFile(root_ / "bad" / "1" / "model.seq",
            "nn.Sequential(\n  nn.Linear(2, 2),\n  nn.Bogus(3),\n)\n");
  fs::create_directories(root_ / "empty");
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kNone));
  ASSERT_NE(repository, nullptr);

  absl::StatusOr<std::shared_ptr<ServableModel>> unknown = repository->Get("foo");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "unknown model 'foo'");

  absl::StatusOr<std::shared_ptr<ServableModel>> no_version = repository->Get("tiny", 7);
  EXPECT_EQ(no_version.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(no_version.status().message(), "model 'tiny' has no version 7");

  absl::StatusOr<std::shared_ptr<ServableModel>> explicit_version = repository->Get("tiny", 1);
  ASSERT_TRUE(explicit_version.ok()) << explicit_version.status();
  EXPECT_EQ((*explicit_version)->version, 1);
  EXPECT_EQ((*explicit_version)->name, "tiny");

  for (int64_t version : {0, 1}) {
    absl::StatusOr<std::shared_ptr<ServableModel>> bad = repository->Get("bad", version);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(bad.status().message()),
                StartsWith("model 'bad' version 1 is not ready (UNAVAILABLE): "));
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr("model.seq:3:"));
  }
  absl::StatusOr<std::shared_ptr<ServableModel>> empty = repository->Get("empty");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(empty.status().message(),
            "model 'empty' is not ready (UNAVAILABLE): no version directories");
}

TEST_F(ModelRepositoryTest, VersionPolicySelectsTheVersionsToLoad) {
  for (std::string name : {"latest", "latest2", "all", "specific"}) {
    for (int64_t v = 1; v <= 3; ++v) WriteTinyVersion(root_ / name, v, static_cast<float>(v));
  }
  WriteConfig(root_ / "latest2",
              "max_batch_size: 8\nversion_policy: { latest: { num_versions: 2 } }\n");
  WriteConfig(root_ / "all", "max_batch_size: 8\nversion_policy: { all: {} }\n");
  WriteConfig(root_ / "specific",
              "max_batch_size: 8\nversion_policy: { specific: { versions: [1, 5] } }\n");
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kNone));
  ASSERT_NE(repository, nullptr);

  EXPECT_EQ(VersionsIn(*repository, "latest", ModelState::kReady), std::vector<int64_t>{3});
  EXPECT_EQ(VersionsIn(*repository, "latest2", ModelState::kReady), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(VersionsIn(*repository, "all", ModelState::kReady), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(VersionsIn(*repository, "specific", ModelState::kReady), std::vector<int64_t>{1});

  // Version 0 is the highest READY one.
  EXPECT_EQ(ServedScale(*repository, "latest"), 3.0f);
  EXPECT_EQ(ServedScale(*repository, "latest2"), 3.0f);
  EXPECT_EQ(ServedScale(*repository, "specific"), 1.0f);
  // Versions the policy leaves out are not found, even though they are on disk.
  EXPECT_EQ(repository->Get("latest", 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repository->Get("latest2", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repository->Get("specific", 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(repository->Get("all", 1).ok());
  // A specific version missing on disk is listed as UNAVAILABLE with the reason.
  absl::StatusOr<std::shared_ptr<ServableModel>> missing = repository->Get("specific", 5);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("version_policy specific names version 5, but "));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("does not exist"));
}

TEST_F(ModelRepositoryTest, CreateFailsForAMissingRootNamingIt) {
  RepositoryOptions options = Options(ModelControlMode::kNone);
  options.roots.push_back(base_ / "nowhere");
  absl::StatusOr<std::unique_ptr<ModelRepository>> repository = ModelRepository::Create(options);
  EXPECT_EQ(repository.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(repository.status().message()), HasSubstr((base_ / "nowhere").string()));
  EXPECT_THAT(std::string(repository.status().message()), HasSubstr("does not exist"));
}

TEST_F(ModelRepositoryTest, CreateFailsForAModelInTwoRootsNamingBothPaths) {
  const fs::path other = base_ / "more_models";
  WriteTinyVersion(root_ / "tiny", 1, 1.0f);
  WriteTinyVersion(other / "tiny", 1, 1.0f);
  RepositoryOptions options = Options(ModelControlMode::kNone);
  options.roots.push_back(other);
  absl::StatusOr<std::unique_ptr<ModelRepository>> repository = ModelRepository::Create(options);
  EXPECT_EQ(repository.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(repository.status().message()), HasSubstr("model 'tiny'"));
  EXPECT_THAT(std::string(repository.status().message()), HasSubstr((root_ / "tiny").string()));
  EXPECT_THAT(std::string(repository.status().message()), HasSubstr((other / "tiny").string()));
}

TEST_F(ModelRepositoryTest, ModelsFromSeveralRootsAreServed) {
  const fs::path other = base_ / "more_models";
  WriteTinyVersion(root_ / "a", 1, 1.0f);
  WriteTinyVersion(other / "b", 1, 2.0f);
  RepositoryOptions options = Options(ModelControlMode::kNone);
  options.roots.push_back(other);
  std::unique_ptr<ModelRepository> repository = CreateOrDie(options);
  ASSERT_NE(repository, nullptr);
  EXPECT_EQ(ServedScale(*repository, "a"), 1.0f);
  EXPECT_EQ(ServedScale(*repository, "b"), 2.0f);
}

TEST_F(ModelRepositoryTest, NoneModeRefusesLoadUnloadAndPoll) {
  WriteTinyVersion(root_ / "tiny", 1, 1.0f);
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kNone));
  ASSERT_NE(repository, nullptr);
  for (const absl::Status& status : {repository->Load("tiny"), repository->Unload("tiny")}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(status.message(),
              "model control mode is none: start seqserve with --model-control-mode=explicit to "
              "load or unload models");
  }
  EXPECT_EQ(repository->Poll().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(repository->Get("tiny").ok());
}

TEST_F(ModelRepositoryTest, ExplicitModeLoadsStartupModelsThenOnRequest) {
  WriteTinyVersion(root_ / "a", 1, 1.0f);
  WriteTinyVersion(root_ / "b", 1, 2.0f);
  RepositoryOptions options = Options(ModelControlMode::kExplicit);
  options.startup_models = {"a", "missing"};
  std::unique_ptr<ModelRepository> repository = CreateOrDie(options);
  ASSERT_NE(repository, nullptr);
  readiness_.Attach(*repository);

  EXPECT_EQ(ServedScale(*repository, "a"), 1.0f);
  // b is in the repository but not loaded: unknown to Get, listed by Index.
  EXPECT_EQ(repository->Get("b").status().code(), absl::StatusCode::kNotFound);
  std::optional<ModelVersionStatus> b = StatusOf(*repository, "b", 0);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->state, ModelState::kUnavailable);
  EXPECT_EQ(b->reason, "not loaded");

  ASSERT_TRUE(repository->Load("b").ok());
  EXPECT_EQ(ServedScale(*repository, "b"), 2.0f);
  EXPECT_EQ(readiness_.Last("b"), true);

  ASSERT_TRUE(repository->Unload("a").ok());
  EXPECT_EQ(readiness_.Last("a"), false);
  absl::StatusOr<std::shared_ptr<ServableModel>> a = repository->Get("a");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.status().message(), "model 'a' version 1 is not ready (UNAVAILABLE): unloaded");
  EXPECT_EQ(StatusOf(*repository, "a", 1)->reason, "unloaded");

  // Loading it again brings it back; unloading what is not loaded succeeds (as Triton).
  ASSERT_TRUE(repository->Load("a").ok());
  EXPECT_EQ(ServedScale(*repository, "a"), 1.0f);
  EXPECT_EQ(readiness_.Last("a"), true);
  EXPECT_TRUE(repository->Unload("never_heard_of").ok());

  absl::Status unknown = repository->Load("nope");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.message()), StartsWith("unknown model 'nope'"));
  EXPECT_EQ(repository->Poll().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ModelRepositoryTest, ExplicitModeWithStarLoadsEverything) {
  WriteTinyVersion(root_ / "a", 1, 1.0f);
  WriteTinyVersion(root_ / "b", 1, 2.0f);
  RepositoryOptions options = Options(ModelControlMode::kExplicit);
  options.startup_models = {"*"};
  std::unique_ptr<ModelRepository> repository = CreateOrDie(options);
  ASSERT_NE(repository, nullptr);
  EXPECT_EQ(ServedScale(*repository, "a"), 1.0f);
  EXPECT_EQ(ServedScale(*repository, "b"), 2.0f);
}

TEST_F(ModelRepositoryTest, ExplicitLoadOfABrokenModelFailsAndKeepsThePreviousLoadServing) {
  WriteTinyVersion(root_ / "tiny", 1, 1.0f);
  RepositoryOptions options = Options(ModelControlMode::kExplicit);
  options.startup_models = {"tiny"};
  std::unique_ptr<ModelRepository> repository = CreateOrDie(options);
  ASSERT_NE(repository, nullptr);

  WriteFile(root_ / "tiny" / "1" / "model.seq", "nn.Sequential(nn.Linear(2, 2, bias=False),\n");
  absl::Status load = repository->Load("tiny");
  EXPECT_EQ(load.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(load.message()), HasSubstr("model 'tiny' version 1: "));
  EXPECT_EQ(ServedScale(*repository, "tiny"), 1.0f);
  std::optional<ModelVersionStatus> status = StatusOf(*repository, "tiny", 1);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->state, ModelState::kReady);
  EXPECT_THAT(status->reason, StartsWith("reload failed, still serving the previous load: "));

  // Explicit Load always reloads, even unchanged files.
  WriteFile(root_ / "tiny" / "1" / "model.seq", kTinySeq);
  ASSERT_TRUE(repository->Load("tiny").ok());
  EXPECT_EQ(StatusOf(*repository, "tiny", 1)->reason, "");
  absl::StatusOr<std::shared_ptr<ServableModel>> before = repository->Get("tiny");
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(repository->Load("tiny").ok());
  absl::StatusOr<std::shared_ptr<ServableModel>> after = repository->Get("tiny");
  ASSERT_TRUE(after.ok());
  EXPECT_NE(before->get(), after->get());
  // The handle taken before the reload still works: its version drains only once released.
  EXPECT_TRUE(Infer(*std::move(before)).status.ok());
}

TEST_F(ModelRepositoryTest, UnloadDrainsARequestInFlight) {
  WriteTinyVersion(root_ / "tiny", 1, 3.0f);
  RepositoryOptions options = Options(ModelControlMode::kExplicit);
  options.startup_models = {"tiny"};
  absl::Notification not_ready;  // outlives the repository, whose Stop calls the listener
  std::unique_ptr<ModelRepository> repository = CreateOrDie(options);
  ASSERT_NE(repository, nullptr);
  repository->SetReadinessListener([&](const std::string& name, bool ready) {
    if (name == "tiny" && !ready && !not_ready.HasBeenNotified()) not_ready.Notify();
  });

  // A request held inside the worker by a gate; the front end has let go of its handle.
  Gate gate;
  absl::Notification finished;
  Outcome outcome;
  {
    absl::StatusOr<std::shared_ptr<ServableModel>> servable = repository->Get("tiny");
    ASSERT_TRUE(servable.ok());
    Scheduler& scheduler = *(*servable)->scheduler;
    scheduler.Enqueue(std::make_unique<FrontEndTask>(
        nullptr, Tensor({1, 2}, {1, 1}),
        [&](Outcome o) {
          outcome = std::move(o);
          finished.Notify();
        },
        &gate));
  }
  ASSERT_TRUE(gate.entered.WaitForNotificationWithTimeout(kGuard));

  absl::Status unload;
  std::thread unloader([&] { unload = repository->Unload("tiny"); });
  ASSERT_TRUE(not_ready.WaitForNotificationWithTimeout(kGuard));
  // Draining: the version is UNLOADING and refuses new requests with that state.
  absl::StatusOr<std::shared_ptr<ServableModel>> during = repository->Get("tiny");
  EXPECT_EQ(during.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(during.status().message(), "model 'tiny' version 1 is not ready (UNLOADING)");
  EXPECT_EQ(StatusOf(*repository, "tiny", 1)->state, ModelState::kUnloading);
  EXPECT_FALSE(finished.HasBeenNotified());

  gate.release.Notify();
  unloader.join();
  EXPECT_TRUE(unload.ok()) << unload;
  // Unload returned only after the request finished, with its answer.
  ASSERT_TRUE(finished.HasBeenNotified());
  ASSERT_TRUE(outcome.status.ok()) << outcome.status;
  EXPECT_EQ(outcome.output, (std::vector<float>{3, 3}));
  EXPECT_EQ(StatusOf(*repository, "tiny", 1)->state, ModelState::kUnavailable);
  EXPECT_EQ(StatusOf(*repository, "tiny", 1)->reason, "unloaded");
}

TEST_F(ModelRepositoryTest, PollLoadsNewVersionsReloadsChangedOnesAndUnloadsRemovedOnes) {
  WriteTinyVersion(root_ / "tiny", 1, 1.0f);
  WriteConfig(root_ / "tiny", "max_batch_size: 8\nversion_policy: { all: {} }\n");
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kPoll));
  ASSERT_NE(repository, nullptr);
  readiness_.Attach(*repository);
  EXPECT_EQ(ServedScale(*repository, "tiny"), 1.0f);

  // Nothing changed: nothing is reloaded.
  absl::StatusOr<std::shared_ptr<ServableModel>> first = repository->Get("tiny", 1);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_EQ(repository->Get("tiny", 1)->get(), first->get());
  first->reset();

  // A new version.
  WriteTinyVersion(root_ / "tiny", 2, 2.0f);
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_EQ(VersionsIn(*repository, "tiny", ModelState::kReady), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(ServedScale(*repository, "tiny"), 2.0f);

  // New weights for version 2: reloaded, and the new weights answer.
  WriteSafetensors(root_ / "tiny" / "2" / "model.safetensors",
                   {{"0.weight", Tensor({2, 2}, {5, 0, 0, 5})}});
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_EQ(ServedScale(*repository, "tiny"), 5.0f);

  // A changed model.seq (same weights) is a change too.
  WriteFile(root_ / "tiny" / "2" / "model.seq",
            "# now with a comment\nnn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU())\n");
  absl::StatusOr<std::shared_ptr<ServableModel>> before = repository->Get("tiny", 2);
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_NE(repository->Get("tiny", 2)->get(), before->get());
  before->reset();

  // Version 2 removed: unloaded; version 1 serves.
  fs::remove_all(root_ / "tiny" / "2");
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_EQ(repository->Get("tiny", 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ServedScale(*repository, "tiny"), 1.0f);
  EXPECT_EQ(readiness_.Last("tiny"), true);

  // A new model appears; a model directory disappears.
  WriteTinyVersion(root_ / "other", 1, 4.0f);
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_EQ(ServedScale(*repository, "other"), 4.0f);
  EXPECT_EQ(readiness_.Last("other"), true);
  fs::remove_all(root_ / "tiny");
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_EQ(readiness_.Last("tiny"), false);
  absl::StatusOr<std::shared_ptr<ServableModel>> gone = repository->Get("tiny");
  EXPECT_FALSE(gone.ok());
  EXPECT_EQ(repository->Get("tiny", 1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelRepositoryTest, PollAppliesAChangedVersionPolicy) {
  for (int64_t v = 1; v <= 3; ++v) WriteTinyVersion(root_ / "tiny", v, static_cast<float>(v));
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kPoll));
  ASSERT_NE(repository, nullptr);
  EXPECT_EQ(VersionsIn(*repository, "tiny", ModelState::kReady), std::vector<int64_t>{3});

  WriteConfig(root_ / "tiny",
              "max_batch_size: 8\nversion_policy: { specific: { versions: [1, 2] } }\n");
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_TRUE(repository->Get("tiny", 1).ok());
  EXPECT_TRUE(repository->Get("tiny", 2).ok());
  EXPECT_EQ(repository->Get("tiny", 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ServedScale(*repository, "tiny"), 2.0f);
}

TEST_F(ModelRepositoryTest, FailedReloadKeepsTheOldVersionServingWithTheReason) {
  WriteTinyVersion(root_ / "tiny", 1, 1.0f);
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kPoll));
  ASSERT_NE(repository, nullptr);

  // Weights that do not fit the model.
  WriteSafetensors(root_ / "tiny" / "1" / "model.safetensors",
                   {{"0.weight", Tensor({3, 2}, {1, 0, 0, 1, 1, 1})}});
  ASSERT_TRUE(repository->Poll().ok());
  std::optional<ModelVersionStatus> status = StatusOf(*repository, "tiny", 1);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->state, ModelState::kReady);
  EXPECT_THAT(status->reason, StartsWith("reload failed, still serving the previous load: "));
  EXPECT_THAT(status->reason, HasSubstr("0.weight"));
  EXPECT_EQ(ServedScale(*repository, "tiny"), 1.0f);

  // A broken config.pbtxt is a failed reload too.
  WriteTinyVersion(root_ / "tiny", 1, 6.0f);
  WriteConfig(root_ / "tiny", "max_batch_size: 8\nbackend: \"onnxruntime\"\n");
  ASSERT_TRUE(repository->Poll().ok());
  status = StatusOf(*repository, "tiny", 1);
  EXPECT_EQ(status->state, ModelState::kReady);
  EXPECT_THAT(status->reason, HasSubstr("config.pbtxt:2:1: field 'backend' is not supported"));
  EXPECT_EQ(ServedScale(*repository, "tiny"), 1.0f);

  // Fixed: reloaded with the files now on disk, reason cleared.
  WriteConfig(root_ / "tiny", "max_batch_size: 8\n");
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_EQ(StatusOf(*repository, "tiny", 1)->reason, "");
  EXPECT_EQ(ServedScale(*repository, "tiny"), 6.0f);
}

TEST_F(ModelRepositoryTest, ABrokenModelLoadsOnceItsFilesAreFixed) {
  fs::create_directories(root_ / "bad" / "1");
  WriteFile(root_ / "bad" / "1" / "model.seq", "nn.Sequential(nn.Bogus())\n");
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kPoll));
  ASSERT_NE(repository, nullptr);
  readiness_.Attach(*repository);
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_EQ(StatusOf(*repository, "bad", 1)->state, ModelState::kUnavailable);
  EXPECT_EQ(readiness_.Last("bad"), false);

  WriteTinyVersion(root_ / "bad", 1, 7.0f);
  ASSERT_TRUE(repository->Poll().ok());
  EXPECT_EQ(ServedScale(*repository, "bad"), 7.0f);
  EXPECT_EQ(readiness_.Last("bad"), true);
}

TEST_F(ModelRepositoryTest, HotReloadUnderConcurrentLoadHasZeroFailures) {
  WriteTinyVersion(root_ / "tiny", 1, 1.0f);
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kPoll));
  ASSERT_NE(repository, nullptr);

  absl::Mutex mu;
  int64_t answered = 0;
  int64_t failures = 0;
  std::string first_failure;
  std::atomic<bool> done{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!done.load()) {
        absl::StatusOr<std::shared_ptr<ServableModel>> servable = repository->Get("tiny");
        absl::Status status = servable.status();
        std::vector<float> output;
        if (servable.ok()) {
          Outcome outcome = Infer(*std::move(servable));
          status = outcome.status;
          output = std::move(outcome.output);
        }
        // Every answer comes from some whole set of weights: [s, s] with s in 1..6.
        const bool whole = output.size() == 2 && output[0] == output[1] && output[0] >= 1 &&
                           output[0] <= 6 && output[0] == std::floor(output[0]);
        absl::MutexLock lock(&mu);
        ++answered;
        if (!status.ok() || !whole) {
          ++failures;
          if (first_failure.empty()) first_failure = status.ToString();
        }
      }
    });
  }
  auto wait_for_answers = [&](int64_t n) {
    absl::MutexLock lock(&mu);
    const int64_t target = answered + n;
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return answered >= target; };
    return mu.AwaitWithTimeout(absl::Condition(&reached), kGuard);
  };

  // Swap the weights of version 1 several times, then move to new versions.
  for (int s = 2; s <= 4; ++s) {
    ASSERT_TRUE(wait_for_answers(200));
    WriteSafetensors(
        root_ / "tiny" / "1" / "model.safetensors",
        {{"0.weight", Tensor({2, 2}, {static_cast<float>(s), 0, 0, static_cast<float>(s)})}});
    ASSERT_TRUE(repository->Poll().ok());
    EXPECT_EQ(ServedScale(*repository, "tiny"), static_cast<float>(s));
  }
  for (int v = 2; v <= 3; ++v) {
    ASSERT_TRUE(wait_for_answers(200));
    WriteTinyVersion(root_ / "tiny", v, static_cast<float>(3 + v));
    ASSERT_TRUE(repository->Poll().ok());
    EXPECT_EQ(ServedScale(*repository, "tiny"), static_cast<float>(3 + v));
  }
  ASSERT_TRUE(wait_for_answers(200));
  done.store(true);
  for (std::thread& client : clients) client.join();

  absl::MutexLock lock(&mu);
  EXPECT_GE(answered, 1200);
  EXPECT_EQ(failures, 0) << first_failure;
}

TEST_F(ModelRepositoryTest, StopUnloadsEverythingAndIsIdempotent) {
  WriteTinyVersion(root_ / "a", 1, 1.0f);
  WriteTinyVersion(root_ / "b", 1, 2.0f);
  std::unique_ptr<ModelRepository> repository = CreateOrDie(Options(ModelControlMode::kPoll));
  ASSERT_NE(repository, nullptr);
  readiness_.Attach(*repository);
  repository->Stop();
  EXPECT_EQ(readiness_.Last("a"), false);
  EXPECT_EQ(readiness_.Last("b"), false);
  for (std::string name : {"a", "b"}) {
    std::optional<ModelVersionStatus> status = StatusOf(*repository, name, 1);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->state, ModelState::kUnavailable);
    EXPECT_EQ(status->reason, "unloaded");
    EXPECT_EQ(repository->Get(name).status().code(), absl::StatusCode::kUnavailable);
  }
  const size_t calls = readiness_.size();
  repository->Stop();
  EXPECT_EQ(readiness_.size(), calls);
  EXPECT_EQ(repository->Poll().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(repository->Load("a").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ModelStateName, NamesTritonsStates) {
  EXPECT_STREQ(ModelStateName(ModelState::kLoading), "LOADING");
  EXPECT_STREQ(ModelStateName(ModelState::kReady), "READY");
  EXPECT_STREQ(ModelStateName(ModelState::kUnloading), "UNLOADING");
  EXPECT_STREQ(ModelStateName(ModelState::kUnavailable), "UNAVAILABLE");
}

}  // namespace
}  // namespace seqserve
