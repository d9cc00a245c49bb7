// seqperf's reports: the human-readable step lines, CSV and JSON for machines, and an SVG
// plot of latency (p50, p99) against throughput across the steps. Pure functions of the
// results; thread-compatible.
#pragma once

#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "client/perf/perf_stats.h"

namespace seqserve::perf {

// What was measured, echoed in every report so a file explains itself.
struct PerfSettings {
  std::string url;
  std::string model;
  int64_t version = 0;  // 0: the server's pick
  int batch_size = 1;
  std::string shape;      // request shape, e.g. "[1, 1, 28, 28]"
  bool streaming = false;
  bool open_loop = false;  // false: closed loop, `load` is the concurrency
  std::string arrivals;    // open loop: "poisson" or "constant"
  int64_t measurement_ms = 0;
  double warmup_s = 0;
  StabilityRule stability;
};

// "concurrency" or "request_rate": the name of StepResult::load.
std::string LoadName(const PerfSettings& settings);

// One line per step for the terminal, e.g.
// "Concurrency: 4, throughput: 9120.3 infer/s (9120.3 samples/s), latency us p50 412 ...".
std::string FormatStep(const PerfSettings& settings, const StepResult& step);

// The closing summary table, one row per step.
std::string FormatTable(const PerfSettings& settings, std::span<const StepResult> steps);

// Header plus one row per step. Columns: load, infer/s, samples/s, latency p50/p90/p95/
// p99/max/mean (µs), requests, errors, dropped, client and server CPU µs per request
// (empty when not measured), stable.
void WriteCsv(std::ostream& out, const PerfSettings& settings, std::span<const StepResult> steps);

// {"settings": {...}, "steps": [{...}]}; errors are an object keyed by status code name.
void WriteJson(std::ostream& out, const PerfSettings& settings,
               std::span<const StepResult> steps);

// About `target` round tick values (1, 2 or 5 times a power of ten) covering [lo, hi].
std::vector<double> NiceTicks(double lo, double hi, int target = 5);

// A self-contained SVG: x = throughput (infer/s), y = latency (µs); p50 and p99 series
// with markers, axes, ticks, labels, title and legend.
void WriteSvgPlot(std::ostream& out, const PerfSettings& settings,
                  std::span<const StepResult> steps);

}  // namespace seqserve::perf
