// ParseTraceSettingUpdate: each setting's values, clearing, and the errors that name the
// setting (Triton's value ranges; TENSORS and a client's own trace_file refused).
#include "server/tracing/trace_settings.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using ::testing::HasSubstr;
constexpr char kFile[] = "/var/trace/seqserve.json";

template <typename T>
using Kind = typename TraceSettingChange<T>::Kind;

TEST(TraceSettings, ParsesEverySetting) {
  absl::StatusOr<TraceSettingChanges> changes =
      ParseTraceSettingUpdate({{"trace_level", {"TIMESTAMPS"}},
                               {"trace_rate", {"4294967295"}},
                               {"trace_count", {"-1"}},
                               {"log_frequency", {"0"}},
                               {"trace_file", {kFile}}},
                              kFile);
  ASSERT_TRUE(changes.ok()) << changes.status();
  EXPECT_EQ(changes->timestamps.kind, Kind<bool>::kSet);
  EXPECT_TRUE(changes->timestamps.value);
  EXPECT_EQ(changes->rate.kind, Kind<uint32_t>::kSet);
  EXPECT_EQ(changes->rate.value, 4294967295u);
  EXPECT_EQ(changes->count.kind, Kind<int32_t>::kSet);
  EXPECT_EQ(changes->count.value, -1);
  EXPECT_EQ(changes->log_frequency.kind, Kind<uint32_t>::kSet);
  EXPECT_EQ(changes->log_frequency.value, 0u);

  absl::StatusOr<TraceSettingChanges> off =
      ParseTraceSettingUpdate({{"trace_level", {"OFF"}}}, kFile);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->timestamps.kind, Kind<bool>::kSet);
  EXPECT_FALSE(off->timestamps.value);
  EXPECT_EQ(off->rate.kind, Kind<uint32_t>::kKeep);
  EXPECT_EQ(off->count.kind, Kind<int32_t>::kKeep);
}

TEST(TraceSettings, NoValueClears) {
  absl::StatusOr<TraceSettingChanges> changes = ParseTraceSettingUpdate({{"trace_level", {}},
                                                                         {"trace_rate", {}},
                                                                         {"trace_count", {}},
                                                                         {"log_frequency", {}},
                                                                         {"trace_file", {}}},
                                                                        kFile);
  ASSERT_TRUE(changes.ok()) << changes.status();
  EXPECT_EQ(changes->timestamps.kind, Kind<bool>::kClear);
  EXPECT_EQ(changes->rate.kind, Kind<uint32_t>::kClear);
  EXPECT_EQ(changes->count.kind, Kind<int32_t>::kClear);
  EXPECT_EQ(changes->log_frequency.kind, Kind<uint32_t>::kClear);
}

TEST(TraceSettings, BadValuesNameTheSetting) {
  struct Case {
    TraceSettingUpdate update;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {{{"trace_level", {"TENSORS"}}}, "'trace_level': seqserve does not trace tensors"},
           {{{"trace_level", {"TIMESTAMPS", "TENSORS"}}}, "does not trace tensors"},
           {{{"trace_level", {"OFF", "TIMESTAMPS"}}}, "OFF cannot be given together"},
           {{{"trace_level", {"timestamps"}}}, "unknown level \"timestamps\""},
           {{{"trace_rate", {"0"}}},
            "'trace_rate': expected an integer in [1, 4294967295], got \"0\""},
           {{{"trace_rate", {"4294967296"}}}, "got \"4294967296\""},
           {{{"trace_rate", {"12abc"}}}, "got \"12abc\""},
           {{{"trace_rate", {" 5"}}}, "got \" 5\""},
           {{{"trace_rate", {""}}}, "got \"\""},
           {{{"trace_rate", {"1", "2"}}}, "'trace_rate': expected one value, got 2"},
           {{{"trace_count", {"-2"}}}, "'trace_count': expected -1 (no limit)"},
           {{{"trace_count", {"2147483648"}}}, "'trace_count'"},
           {{{"log_frequency", {"-1"}}}, "'log_frequency': expected an integer in [0, 4294967295]"},
           {{{"trace_file", {"/tmp/elsewhere.json"}}}, "'trace_file': traces go to the file"},
           {{{"trace_file", {kFile, kFile}}}, "only \"/var/trace/seqserve.json\" is accepted"},
           {{{"trace_mode", {"triton"}}}, "unknown trace setting 'trace_mode'"},
       }) {
    absl::StatusOr<TraceSettingChanges> changes = ParseTraceSettingUpdate(c.update, kFile);
    ASSERT_FALSE(changes.ok()) << c.message;
    EXPECT_TRUE(absl::IsInvalidArgument(changes.status())) << changes.status();
    EXPECT_THAT(std::string(changes.status().message()), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace seqserve
