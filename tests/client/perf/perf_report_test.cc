// seqperf's reports: CSV and JSON shape, the step line, tick choice and the SVG plot.
#include "client/perf/perf_report.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace seqserve::perf {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

PerfSettings Settings(bool open_loop) {
  PerfSettings s;
  s.url = "127.0.0.1:8001";
  s.model = "lenet";
  s.batch_size = 2;
  s.shape = "[2, 1, 28, 28]";
  s.open_loop = open_loop;
  s.arrivals = "poisson";
  s.measurement_ms = 500;
  return s;
}

std::vector<StepResult> Steps() {
  StepResult a;
  a.load = 1;
  a.batch_size = 2;
  a.requests = 300;
  a.throughput_infer_per_s = 3000;
  a.throughput_samples_per_s = 6000;
  a.latency = {.count = 300, .mean_us = 310, .p50_us = 300, .p90_us = 350, .p95_us = 360,
               .p99_us = 400, .max_us = 900};
  a.client_cpu_us_per_request = 55.5;
  a.server_cpu_us_per_request = 60.25;
  a.stable = true;
  a.windows_measured = 3;
  StepResult b = a;
  b.load = 8;
  b.throughput_infer_per_s = 12000;
  b.latency.p50_us = 650;
  b.latency.p99_us = 1500;
  b.errors[8] = 4;  // RESOURCE_EXHAUSTED
  b.error_total = 4;
  b.server_cpu_us_per_request = -1;
  b.stable = false;
  b.windows_measured = 10;
  return {a, b};
}

std::vector<std::vector<std::string>> CsvRows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    rows.push_back(absl::StrSplit(line, ','));
  }
  return rows;
}

TEST(WriteCsv, HeaderAndOneRowPerStepWithSameColumnCount) {
  std::ostringstream out;
  WriteCsv(out, Settings(false), Steps());
  const auto rows = CsvRows(out.str());
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].front(), "concurrency");
  EXPECT_EQ(rows[0][1], "infer_per_sec");
  EXPECT_EQ(rows[0].back(), "stable");
  for (const auto& row : rows) EXPECT_EQ(row.size(), rows[0].size());
  EXPECT_EQ(rows[1][0], "1");
  EXPECT_EQ(rows[1][1], "3000.00");
  EXPECT_EQ(rows[1][3], "300.0");        // p50
  EXPECT_EQ(rows[1][13], "60.25");       // server CPU
  EXPECT_EQ(rows[2][10], "4");           // errors
  EXPECT_EQ(rows[2][13], "");            // server CPU not measured
  EXPECT_EQ(rows[2].back(), "false");
}

TEST(WriteCsv, OpenLoopNamesTheRateColumn) {
  std::ostringstream out;
  WriteCsv(out, Settings(true), Steps());
  EXPECT_EQ(CsvRows(out.str())[0].front(), "request_rate");
}

TEST(WriteJson, SettingsAndStepsWithLatencyErrorsAndCpu) {
  std::ostringstream out;
  WriteJson(out, Settings(false), Steps());
  const nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["settings"]["model"], "lenet");
  EXPECT_EQ(j["settings"]["batch_size"], 2);
  EXPECT_EQ(j["settings"]["protocol"], "unary");
  EXPECT_EQ(j["settings"]["load_mode"], "concurrency");
  ASSERT_EQ(j["steps"].size(), 2u);
  const auto& s0 = j["steps"][0];
  EXPECT_EQ(s0["concurrency"], 1);
  EXPECT_EQ(s0["throughput_infer_per_sec"], 3000);
  EXPECT_EQ(s0["throughput_samples_per_sec"], 6000);
  for (const char* key : {"p50", "p90", "p95", "p99", "max", "mean"}) {
    EXPECT_TRUE(s0["latency_us"].contains(key)) << key;
  }
  EXPECT_TRUE(s0["errors"].is_object());
  EXPECT_TRUE(s0["errors"].empty());
  EXPECT_EQ(s0["client_cpu_us_per_request"], 55.5);
  EXPECT_EQ(s0["stable"], true);
  const auto& s1 = j["steps"][1];
  EXPECT_EQ(s1["errors"]["RESOURCE_EXHAUSTED"], 4);
  EXPECT_TRUE(s1["server_cpu_us_per_request"].is_null());
  EXPECT_EQ(s1["stable"], false);
}

TEST(WriteJson, OpenLoopRecordsRateAndArrivals) {
  std::ostringstream out;
  WriteJson(out, Settings(true), Steps());
  const nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["settings"]["arrivals"], "poisson");
  EXPECT_EQ(j["steps"][1]["request_rate"], 8);
}

TEST(FormatStep, SaysWhatAUserNeeds) {
  const auto steps = Steps();
  const std::string line = FormatStep(Settings(false), steps[0]);
  EXPECT_THAT(line, HasSubstr("Concurrency: 1,"));
  EXPECT_THAT(line, HasSubstr("3000.0 infer/s (6000.0 samples/s)"));
  EXPECT_THAT(line, HasSubstr("p50 300 p90 350 p95 360 p99 400 max 900"));
  EXPECT_THAT(line, HasSubstr("client CPU 55.5 us/req, server CPU 60.2 us/req"));
  EXPECT_THAT(line, Not(HasSubstr("unstable")));
  const std::string second = FormatStep(Settings(false), steps[1]);
  EXPECT_THAT(second, HasSubstr("errors: 4 (RESOURCE_EXHAUSTED 4)"));
  EXPECT_THAT(second, HasSubstr("[unstable after 10 windows]"));
  EXPECT_THAT(second, Not(HasSubstr("server CPU")));
  EXPECT_THAT(FormatTable(Settings(false), steps), HasSubstr("(unstable)"));
}

TEST(NiceTicks, RoundStepsCoveringTheRange) {
  EXPECT_THAT(NiceTicks(0, 10), ElementsAre(0, 2, 4, 6, 8, 10));
  EXPECT_THAT(NiceTicks(0, 13500), ElementsAre(0, 5000, 10000, 15000));
  EXPECT_THAT(NiceTicks(0, 0.9), ElementsAre(0, 0.2, 0.4, 0.6, 0.8, 1.0));
  const auto degenerate = NiceTicks(5, 5);
  ASSERT_GE(degenerate.size(), 2u);
  EXPECT_LE(degenerate.front(), 5);
  EXPECT_GE(degenerate.back(), 6);
}

TEST(WriteSvgPlot, DrawsAxesSeriesLegendAndEscapesText) {
  PerfSettings settings = Settings(false);
  settings.model = "a<b&c";
  std::ostringstream out;
  WriteSvgPlot(out, settings, Steps());
  const std::string svg = out.str();
  EXPECT_THAT(svg, HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_THAT(svg, HasSubstr("</svg>"));
  EXPECT_THAT(svg, HasSubstr("Throughput (infer/s)"));
  EXPECT_THAT(svg, HasSubstr("Latency (\xC2\xB5s)"));
  EXPECT_THAT(svg, HasSubstr("p50 latency"));
  EXPECT_THAT(svg, HasSubstr("p99 latency"));
  EXPECT_THAT(svg, HasSubstr("a&lt;b&amp;c"));
  EXPECT_THAT(svg, Not(HasSubstr("a<b")));
  // Two series of two points: two polylines besides the axes, four markers.
  size_t circles = 0;
  for (size_t pos = svg.find("<circle"); pos != std::string::npos;
       pos = svg.find("<circle", pos + 1)) {
    ++circles;
  }
  EXPECT_EQ(circles, 4u);
  EXPECT_THAT(svg, HasSubstr(">15k<"));  // x ticks up to 12000 infer/s reach 15k
}

TEST(WriteSvgPlot, SwitchesToMillisecondsForLongLatencies) {
  auto steps = Steps();
  steps[1].latency.p99_us = 25000;
  std::ostringstream out;
  WriteSvgPlot(out, Settings(false), steps);
  EXPECT_THAT(out.str(), HasSubstr("Latency (ms)"));
}

}  // namespace
}  // namespace seqserve::perf
