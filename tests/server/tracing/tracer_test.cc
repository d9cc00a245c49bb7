// Tracer: Triton's defaults, trace_rate and trace_count as Triton counts them, a model's own
// settings over the global ones (and clearing them), all-or-nothing updates, and when and
// where traces are written (log_frequency, trace_count's last traces, flush).
#include "server/tracing/tracer.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

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

// The trace ids in a trace file (each trace's first object names its model).
std::vector<uint64_t> TraceIds(const fs::path& path) {
  std::vector<uint64_t> ids;
  const json traces = json::parse(Read(path), nullptr, false);
  if (!traces.is_array()) {
    ADD_FAILURE() << path << " is not a JSON array: " << Read(path);
    return ids;
  }
  for (const json& object : traces) {
    if (object.contains("model_name")) ids.push_back(object["id"].get<uint64_t>());
  }
  return ids;
}

class TracerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Tracer>> tracer = Tracer::Create(file_.string());
    ASSERT_TRUE(tracer.ok()) << tracer.status();
    tracer_ = std::move(*tracer);
  }

  void Update(const std::string& model, const TraceSettingUpdate& update) {
    absl::StatusOr<TraceSettingList> settings = tracer_->Update(model, update);
    ASSERT_TRUE(settings.ok()) << settings.status();
  }

  // The value of one setting in force for `model`.
  std::string Setting(const std::string& model, const std::string& name) {
    for (const auto& [setting, values] : tracer_->Settings(model)) {
      if (setting == name) return values.empty() ? "" : values[0];
    }
    return "<missing>";
  }

  // Samples `requests` requests of `model`; which of them (1-based) were traced.
  std::vector<int> SampleRequests(const std::string& model, int requests) {
    std::vector<int> traced;
    for (int i = 1; i <= requests; ++i) {
      if (tracer_->Sample(model) != nullptr) traced.push_back(i);
    }
    return traced;
  }

  TempDir dir_{"seqserve_tracer"};
  fs::path file_ = dir_.path() / "trace.json";
  std::unique_ptr<Tracer> tracer_;
};

TEST_F(TracerTest, StartsOffWithTritonsDefaults) {
  const TraceSettingList expected = {{"trace_level", {"OFF"}},
                                     {"trace_rate", {"1000"}},
                                     {"trace_count", {"-1"}},
                                     {"log_frequency", {"0"}},
                                     {"trace_file", {file_.string()}}};
  EXPECT_EQ(tracer_->Settings(""), expected);
  EXPECT_EQ(tracer_->Settings("lenet"), expected);
  EXPECT_FALSE(tracer_->active());
  EXPECT_EQ(tracer_->Sample("lenet"), nullptr);
  tracer_->Flush();
  EXPECT_FALSE(fs::exists(file_));
}

TEST_F(TracerTest, CreateRefusesAPathThatCannotBeAFile) {
  absl::StatusOr<std::unique_ptr<Tracer>> tracer =
      Tracer::Create((dir_.path() / "missing" / "trace.json").string());
  EXPECT_TRUE(absl::IsInvalidArgument(tracer.status())) << tracer.status();
}

TEST_F(TracerTest, TraceRateTracesEveryNthRequest) {
  Update("", {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"3"}}});
  EXPECT_TRUE(tracer_->active());
  EXPECT_THAT(SampleRequests("lenet", 10), ::testing::ElementsAre(3, 6, 9));
  // A change starts the count afresh, as Triton's new setting does.
  Update("", {{"trace_rate", {"2"}}});
  EXPECT_THAT(SampleRequests("lenet", 5), ::testing::ElementsAre(2, 4));
}

TEST_F(TracerTest, TraceCountCountsDownAndStopsTracing) {
  Update("", {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"1"}}, {"trace_count", {"3"}}});
  std::unique_ptr<RequestTrace> first = tracer_->Sample("lenet");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(Setting("", "trace_count"), "2");
  std::unique_ptr<RequestTrace> second = tracer_->Sample("mlp");
  std::unique_ptr<RequestTrace> third = tracer_->Sample("lenet");
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(Setting("", "trace_count"), "0");
  EXPECT_FALSE(tracer_->active());
  EXPECT_EQ(tracer_->Sample("lenet"), nullptr);
  EXPECT_LT(first->id(), second->id());
  EXPECT_LT(second->id(), third->id());

  // The last traces go to a numbered file once all three are finished, log_frequency or not.
  const std::vector<uint64_t> ids = {first->id(), second->id(), third->id()};
  first.reset();
  third.reset();
  EXPECT_FALSE(fs::exists(dir_.path() / "trace.json.0"));
  second.reset();
  EXPECT_THAT(TraceIds(dir_.path() / "trace.json.0"), ::testing::UnorderedElementsAreArray(ids));
  EXPECT_FALSE(fs::exists(file_));

  // A new count starts tracing again.
  Update("", {{"trace_count", {"-1"}}});
  EXPECT_TRUE(tracer_->active());
  EXPECT_THAT(SampleRequests("lenet", 2), ::testing::ElementsAre(1, 2));
}

TEST_F(TracerTest, TraceCountCarriesOnThroughOtherChanges) {
  Update("", {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"1"}}, {"trace_count", {"5"}}});
  EXPECT_EQ(SampleRequests("lenet", 2).size(), 2u);
  Update("", {{"trace_rate", {"2"}}});
  EXPECT_EQ(Setting("", "trace_count"), "3");
  // Cleared: back to the default, no limit.
  Update("", {{"trace_count", {}}});
  EXPECT_EQ(Setting("", "trace_count"), "-1");
}

TEST_F(TracerTest, AModelsOwnSettingsOverrideTheGlobalOnesAndFollowTheRest) {
  Update("", {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"1"}}});
  Update("mlp", {{"trace_rate", {"2"}}});
  EXPECT_EQ(Setting("mlp", "trace_rate"), "2");
  EXPECT_EQ(Setting("mlp", "trace_level"), "TIMESTAMPS");  // follows the global one
  EXPECT_EQ(Setting("lenet", "trace_rate"), "1");
  EXPECT_THAT(SampleRequests("mlp", 4), ::testing::ElementsAre(2, 4));
  EXPECT_THAT(SampleRequests("lenet", 2), ::testing::ElementsAre(1, 2));

  // A global change reaches what the model does not set itself.
  Update("", {{"trace_level", {"OFF"}}, {"log_frequency", {"7"}}});
  EXPECT_EQ(Setting("mlp", "trace_level"), "OFF");
  EXPECT_EQ(Setting("mlp", "log_frequency"), "7");
  EXPECT_EQ(Setting("mlp", "trace_rate"), "2");
  EXPECT_FALSE(tracer_->active());

  // The model turns itself on while the global settings stay off.
  Update("mlp", {{"trace_level", {"TIMESTAMPS"}}});
  EXPECT_TRUE(tracer_->active());
  EXPECT_THAT(SampleRequests("mlp", 2), ::testing::ElementsAre(2));
  EXPECT_THAT(SampleRequests("lenet", 3), ::testing::IsEmpty());

  // Cleared one by one: the model follows the global settings entirely again.
  Update("mlp", {{"trace_rate", {}}, {"trace_level", {}}});
  EXPECT_EQ(tracer_->Settings("mlp"), tracer_->Settings(""));
  EXPECT_FALSE(tracer_->active());
}

TEST_F(TracerTest, ABadUpdateChangesNothing) {
  Update("", {{"trace_rate", {"5"}}});
  const TraceSettingList before = tracer_->Settings("");
  absl::StatusOr<TraceSettingList> bad = tracer_->Update(
      "", {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"1"}}, {"trace_count", {"x"}}});
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("'trace_count'"));
  EXPECT_EQ(tracer_->Settings(""), before);
  EXPECT_FALSE(tracer_->active());
  absl::StatusOr<TraceSettingList> file =
      tracer_->Update("lenet", {{"trace_file", {(dir_.path() / "other.json").string()}}});
  EXPECT_TRUE(absl::IsInvalidArgument(file.status()));
  EXPECT_EQ(tracer_->Settings("lenet"), before);
  // Repeating the operator's file is no change.
  absl::StatusOr<TraceSettingList> same = tracer_->Update("", {{"trace_file", {file_.string()}}});
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(*same, before);
}

TEST_F(TracerTest, LogFrequencyWritesEveryNTracesToTheNextNumberedFile) {
  Update("", {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"1"}}, {"log_frequency", {"2"}}});
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    std::unique_ptr<RequestTrace> trace = tracer_->Sample("lenet");
    ASSERT_NE(trace, nullptr);
    ids.push_back(trace->id());
  }
  EXPECT_THAT(TraceIds(dir_.path() / "trace.json.0"), ::testing::ElementsAre(ids[0], ids[1]));
  EXPECT_THAT(TraceIds(dir_.path() / "trace.json.1"), ::testing::ElementsAre(ids[2], ids[3]));
  EXPECT_FALSE(fs::exists(dir_.path() / "trace.json.2"));
  tracer_->Flush();  // the fifth
  EXPECT_THAT(TraceIds(dir_.path() / "trace.json.2"), ::testing::ElementsAre(ids[4]));
  EXPECT_FALSE(fs::exists(file_));
}

TEST_F(TracerTest, LogFrequencyZeroAppendsToTheFileWhenTheSettingChangesAndAtFlush) {
  Update("", {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"1"}}});
  const uint64_t first = tracer_->Sample("lenet")->id();
  const uint64_t second = tracer_->Sample("lenet")->id();
  EXPECT_FALSE(fs::exists(file_));
  // A trace still running when its setting changes is written when it finishes.
  std::unique_ptr<RequestTrace> running = tracer_->Sample("lenet");
  Update("", {{"trace_rate", {"1"}}});
  EXPECT_THAT(TraceIds(file_), ::testing::ElementsAre(first, second));
  const uint64_t third = running->id();
  running.reset();
  EXPECT_THAT(TraceIds(file_), ::testing::ElementsAre(first, second, third));
  const uint64_t fourth = tracer_->Sample("lenet")->id();
  tracer_->Flush();
  EXPECT_THAT(TraceIds(file_), ::testing::ElementsAre(first, second, third, fourth));
}

}  // namespace
}  // namespace seqserve
