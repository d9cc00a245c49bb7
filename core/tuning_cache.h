// Compile-time tuning settings, and the on-disk record of the decisions (core/tuner.h):
// for one model, per plan key (input shape, threads, CPU ISA, oneDNN version), the
// implementation chosen for each tunable layer path. A JSON file beside the model when its
// version directory is writable, else in a cache directory; stamped with the model's
// content hash, so a file for a changed model (and a file that does not parse or has an
// unexpected structure) is ignored with a warning and rewritten. Writes go to a temporary
// file renamed over the old one, merged with what other processes wrote meanwhile, so
// several workers or servers may share it. TuningCache is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/tensor.h"
#include "core/precision.h"
#include "core/precision.h"

namespace seqserve {

enum class TuningMode {
  kOff,     // the default implementation everywhere: deterministic plans, no timing
  kOn,      // time the candidates (or reuse cached decisions) and keep the fastest
  kForced,  // tests: every tunable layer takes candidate `forced_candidate` (modulo their
            // number), untimed and uncached, so each implementation is exercised
};

struct TuningOptions {
  TuningMode mode = TuningMode::kOn;
  // Wall time all compiles of one model may spend timing candidates, in total; layers
  // compiled once it is spent keep the default (and are tuned after a restart, where the
  // cached decisions leave the budget to them).
  double budget_ms = 1000;
  // Directory for tuning files; empty: beside the model if its version directory is
  // writable, else $XDG_CACHE_HOME/seqserve (or ~/.cache/seqserve); none: memory only.
  std::string cache_dir;
  // Only for TuningMode::kForced.
  int forced_candidate = 1;

  // The defaults, overridden by the environment: SEQSERVE_TUNING=on|off,
  // SEQSERVE_TUNING_BUDGET_MS=<ms>, SEQSERVE_TUNING_CACHE=<dir>. Unparsable values are
  // ignored (the default stays).
  static TuningOptions FromEnvironment();
};

// A 64-bit hash of bytes fed in pieces (the model text and every weight tensor): equal
// content gives an equal hash in every process and on every machine.
class ContentHash {
 public:
  void Update(const void* data, size_t bytes);
  void Update(std::string_view text) { Update(text.data(), text.size()); }
  // 16 lowercase hex digits.
  std::string Hex() const;

 private:
  void Block(const uint8_t* p);
  uint64_t lanes_[4] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull,
                        0x082EFA98EC4E6C89ull};
  uint8_t pending_[32] = {};
  size_t pending_bytes_ = 0;
  uint64_t total_bytes_ = 0;
};

// "input=1x3x224x224 threads=2 isa=avx512_core onednn=2.6.3 relu=guarded": what a decision
// depends on besides the model: " unfused" for plans compiled without fusion, " relu=guarded"
// for plans that may fuse ReLUs as FastReluOps (ModelOptions::fast_relu; their fused
// candidates are cheaper, so the choices differ), " bf16" for plans compiled in that
// precision.
std::string TuningPlanKey(const Shape& input, int num_threads, bool fuse, bool fast_relu,
                          Precision precision = Precision::kFp32);

// Where a model's tuning decisions live (see TuningOptions::cache_dir); nullopt: nowhere
// writable, memory only. `version_dir` is empty for models not loaded from a directory.
std::optional<std::filesystem::path> TuningFilePath(const TuningOptions& options,
                                                    const std::filesystem::path& version_dir,
                                                    const std::string& model_hash);

class TuningCache {
 public:
  // Layer path -> candidate id.
  using Decisions = std::map<std::string, std::string>;

  // `file` nullopt: decisions are kept in memory only.
  TuningCache(std::optional<std::filesystem::path> file, std::string model_hash);

  // The decisions stored for `plan_key` (empty if none). Reads the file on first use.
  Decisions Lookup(const std::string& plan_key);
  // Adds `decisions` to `plan_key`'s and writes the file. A write error is logged, not
  // returned: tuning is an optimisation.
  void Store(const std::string& plan_key, const Decisions& decisions);

  const std::optional<std::filesystem::path>& file() const { return file_; }

 private:
  using Plans = std::map<std::string, Decisions>;
  // The file's plans, or nullopt (with a warning naming why) when it is missing, does not
  // parse, has an unexpected structure or belongs to other model content.
  std::optional<Plans> ReadFile(bool warn) const;

  const std::optional<std::filesystem::path> file_;
  const std::string model_hash_;
  absl::Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  Plans plans_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqserve
