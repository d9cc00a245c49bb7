// Compile-time choice among the implementations oneDNN offers for a layer (blocked or
// channels-last convolutions, matmul or inner product, their weight layouts), made by
// timing them on the layer's real shapes rather than by rules.
//
// The compiler hands the tuner chains of tunable layers, each feeding the next (a
// MobileNet's 27 convolutions with their folded BatchNorms and fused ReLUs are one chain).
// Every candidate is timed on zero-filled buffers (the minimum of several short runs,
// candidates interleaved round by round; one twice as slow as the best drops out after
// the first round, one 30% slower after the second), and so is
// every reorder between one candidate's output layout and the next one's input layout. The
// choice minimises the chain's total time, reorders included, so a layout that is fast for
// one layer but forces its neighbours to reorder pays for that. A non-default candidate must
// win by more than 2% (timing noise is not a reason to change a plan).
//
// The wall time spent is bounded by a deadline; layers reached after it keep their default.
// Single-threaded: one Tuner per compile, used on the compiling thread (whose OpenMP thread
// count is the plan's, so the timings are the plan's).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "core/executor.h"
#include "core/module.h"
#include "core/tuning_cache.h"
#include "dnnl.hpp"

namespace seqserve {

class Tuner {
 public:
  using Clock = std::chrono::steady_clock;

  Tuner(const dnnl::engine& engine, Clock::time_point deadline);

  // One layer of a chain: its candidates (the default first) and, when the layer's choice
  // is already known (cached), that candidate's index; the others are then not timed.
  struct Layer {
    std::vector<Candidate> candidates;
    int fixed = -1;
  };

  // The chosen candidate index of each layer of a chain whose first layer reads a value in
  // layout `input`. Layers that could not be timed before the deadline get their default
  // (index 0) and are reported in `untimed`.
  struct Choice {
    std::vector<int> index;
    std::vector<bool> untimed;
  };
  Choice ChooseChain(const dnnl::memory::desc& input, const std::vector<Layer>& layers);

  bool deadline_passed() const { return Clock::now() >= deadline_; }

 private:
  // Sets each item's best_ms: the minimum of its samples over a few interleaved rounds;
  // items clearly slower than the best after two rounds stop being timed. Returns false if
  // the deadline passed before two rounds were done.
  struct Timed {
    dnnl::primitive primitive;
    std::vector<std::pair<int, dnnl::memory::desc>> args;  // DNNL_ARG_* and its layout
    KernelFn epilogue;  // run in place on DNNL_ARG_DST after the primitive, if set
    double best_ms = 0;
  };
  bool TimeAll(std::vector<Timed>& items);
  double RunOnce(Timed& item);
  // Reorder time between two layouts (0 if equal, or if their dims differ: then they are
  // views a step reshapes, not layouts to convert).
  double ReorderMs(const dnnl::memory::desc& from, const dnnl::memory::desc& to);

  const dnnl::engine& engine_;  // process-wide engine, outlives the tuner
  dnnl::stream stream_;
  Clock::time_point deadline_;
  // Zero-filled buffers the timed primitives read and write, one per argument slot.
  std::vector<AlignedBuffer> buffers_;
  std::vector<std::pair<std::pair<dnnl::memory::desc, dnnl::memory::desc>, double>> reorders_;
};

// The tuning of one plan compile: what CompileLayers reads (mode, cached decisions, the
// tuner) and what it reports back (new decisions for the cache, counts for the log).
struct PlanTuning {
  TuningMode mode = TuningMode::kOff;
  int forced_candidate = 1;             // TuningMode::kForced only
  TuningCache::Decisions cached;        // layer path -> candidate id, from the cache
  Tuner* tuner = nullptr;               // null: no time left, cached decisions only

  TuningCache::Decisions decided;       // decisions timed in this compile
  TuningCache::Decisions chosen;        // every layer's compiled choice (empty: default)
  int tunable_layers = 0;               // layers with a choice of implementation
  int cached_layers = 0;                // ... whose choice came from the cache
  int timed_layers = 0;                 // ... chosen by timing now
  int untimed_layers = 0;               // ... left at their default: no time left
  double ms = 0;                        // wall time spent choosing
};

}  // namespace seqserve
