#include "core/tuning_cache.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine_log.h"
#include "dnnl.hpp"
#include "nlohmann/json.hpp"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

constexpr char kFormat[] = "seqserve-tuning-1";
constexpr char kBesideModelName[] = "model.tuning.json";

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ull;

uint64_t RotateLeft(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t Mix(uint64_t lane, uint64_t word) {
  return RotateLeft(lane + word * kPrime2, 31) * kPrime1;
}

uint64_t LoadWord(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  return w;
}

std::string IsaName() {
  using isa = dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case isa::sse41: return "sse41";
    case isa::avx: return "avx";
    case isa::avx2: return "avx2";
    case isa::avx2_vnni: return "avx2_vnni";
    case isa::avx512_core: return "avx512_core";
    case isa::avx512_core_vnni: return "avx512_core_vnni";
    case isa::avx512_core_bf16: return "avx512_core_bf16";
    case isa::avx512_core_amx: return "avx512_core_amx";
    default: return absl::StrCat("isa", static_cast<unsigned>(dnnl::get_effective_cpu_isa()));
  }
}

// The environment variable `name`, or "" when unset.
std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

bool Writable(const fs::path& dir) { return ::access(dir.c_str(), W_OK) == 0; }

}  // namespace

TuningOptions TuningOptions::FromEnvironment() {
  TuningOptions options;
  const std::string mode = Env("SEQSERVE_TUNING");
  if (mode == "off" || mode == "0") options.mode = TuningMode::kOff;
  if (mode == "on" || mode == "1") options.mode = TuningMode::kOn;
  const std::string budget = Env("SEQSERVE_TUNING_BUDGET_MS");
  double ms = 0;
  auto [end, error] = std::from_chars(budget.data(), budget.data() + budget.size(), ms);
  if (!budget.empty() && error == std::errc() && end == budget.data() + budget.size() && ms >= 0) {
    options.budget_ms = ms;
  }
  options.cache_dir = Env("SEQSERVE_TUNING_CACHE");
  return options;
}

void ContentHash::Block(const uint8_t* p) {
  for (int i = 0; i < 4; ++i) lanes_[i] = Mix(lanes_[i], LoadWord(p + 8 * i));
}

void ContentHash::Update(const void* data, size_t bytes) {
  // An empty tensor's data may be null, which memcpy must not be given even for 0 bytes.
  if (bytes == 0) return;
  const auto* p = static_cast<const uint8_t*>(data);
  total_bytes_ += bytes;
  if (pending_bytes_ > 0) {
    const size_t take = std::min(bytes, sizeof(pending_) - pending_bytes_);
    std::memcpy(pending_ + pending_bytes_, p, take);
    pending_bytes_ += take;
    p += take;
    bytes -= take;
    if (pending_bytes_ < sizeof(pending_)) return;
    Block(pending_);
    pending_bytes_ = 0;
  }
  for (; bytes >= sizeof(pending_); p += sizeof(pending_), bytes -= sizeof(pending_)) Block(p);
  std::memcpy(pending_, p, bytes);
  pending_bytes_ = bytes;
}

std::string ContentHash::Hex() const {
  uint64_t h = RotateLeft(lanes_[0], 1) + RotateLeft(lanes_[1], 7) + RotateLeft(lanes_[2], 12) +
               RotateLeft(lanes_[3], 18);
  for (uint64_t lane : lanes_) h = (h ^ Mix(0, lane)) * kPrime1 + kPrime3;
  h += total_bytes_;
  for (size_t i = 0; i < pending_bytes_; ++i) {
    h = RotateLeft(h ^ (pending_[i] * kPrime3), 11) * kPrime1;
  }
  // Final avalanche: every input bit reaches every output bit.
  h ^= h >> 33;
  h *= kPrime2;
  h ^= h >> 29;
  h *= kPrime3;
  h ^= h >> 32;
  char hex[17];
  for (int i = 15; i >= 0; --i, h >>= 4) hex[i] = "0123456789abcdef"[h & 15];
  hex[16] = '\0';
  return hex;
}

std::string TuningPlanKey(const Shape& input, int num_threads, bool fuse, bool fast_relu,
                          Precision precision) {
  const dnnl_version_t* v = dnnl_version();
  return absl::StrCat("input=", absl::StrJoin(input, "x"), " threads=", num_threads,
                      " isa=", IsaName(), " onednn=", v->major, ".", v->minor, ".", v->patch,
                      fuse ? "" : " unfused", fuse && fast_relu ? " relu=guarded" : "",
                      precision == Precision::kFp32
                          ? std::string()
                          : absl::StrCat(" ", std::string(PrecisionName(precision))));
}

std::optional<fs::path> TuningFilePath(const TuningOptions& options, const fs::path& version_dir,
                                       const std::string& model_hash) {
  const std::string name = absl::StrCat(model_hash, ".tuning.json");
  std::error_code ec;
  if (!options.cache_dir.empty()) {
    fs::create_directories(options.cache_dir, ec);
    if (Writable(options.cache_dir)) return fs::path(options.cache_dir) / name;
    EngineLog()->warn("tuning cache directory {} is not writable; tuning decisions stay in memory",
                      options.cache_dir);
    return std::nullopt;
  }
  if (!version_dir.empty() && Writable(version_dir)) return version_dir / kBesideModelName;
  fs::path cache_home = Env("XDG_CACHE_HOME");
  if (cache_home.empty() && !Env("HOME").empty()) cache_home = fs::path(Env("HOME")) / ".cache";
  if (cache_home.empty()) return std::nullopt;
  const fs::path dir = cache_home / "seqserve";
  fs::create_directories(dir, ec);
  if (!Writable(dir)) return std::nullopt;
  return dir / name;
}

TuningCache::TuningCache(std::optional<fs::path> file, std::string model_hash)
    : file_(std::move(file)), model_hash_(std::move(model_hash)) {}

std::optional<TuningCache::Plans> TuningCache::ReadFile(bool warn) const {
  if (!file_) return std::nullopt;
  std::ifstream in(*file_, std::ios::binary);
  if (!in) return std::nullopt;  // not written yet
  std::ostringstream text;
  text << in.rdbuf();
  auto ignore = [&](const std::string& why) -> std::optional<Plans> {
    if (warn) EngineLog()->warn("ignoring tuning cache {}: {}", file_->string(), why);
    return std::nullopt;
  };
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return ignore("not valid JSON");
  if (!j.is_object() || !j.contains("format") || j["format"] != kFormat) {
    return ignore(absl::StrCat("not a \"", kFormat, "\" file"));
  }
  if (!j.contains("model_hash") || !j["model_hash"].is_string()) {
    return ignore("no model_hash");
  }
  if (j["model_hash"] != model_hash_) {
    // The model changed since the file was written (or the file is another model's).
    return ignore(absl::StrCat("written for model content ", j["model_hash"].get<std::string>(),
                               ", the model is now ", model_hash_));
  }
  if (!j.contains("plans") || !j["plans"].is_object()) return ignore("no \"plans\" object");
  Plans plans;
  for (const auto& [key, plan] : j["plans"].items()) {
    if (!plan.is_object()) return ignore(absl::StrCat("plan \"", key, "\" is not an object"));
    Decisions& decisions = plans[key];
    for (const auto& [path, id] : plan.items()) {
      if (!id.is_string() || id.get<std::string>().empty()) {
        return ignore(absl::StrCat("plan \"", key, "\" layer \"", path,
                                   "\" has no implementation name"));
      }
      decisions[path] = id.get<std::string>();
    }
  }
  return plans;
}

TuningCache::Decisions TuningCache::Lookup(const std::string& plan_key) {
  absl::MutexLock lock(&mu_);
  if (!loaded_) {
    loaded_ = true;
    if (std::optional<Plans> plans = ReadFile(/*warn=*/true)) plans_ = std::move(*plans);
  }
  auto it = plans_.find(plan_key);
  return it != plans_.end() ? it->second : Decisions{};
}

void TuningCache::Store(const std::string& plan_key, const Decisions& decisions) {
  absl::MutexLock lock(&mu_);
  for (const auto& [path, id] : decisions) plans_[plan_key][path] = id;
  if (!file_) return;
  // Keep what other processes added since this one read the file.
  if (std::optional<Plans> on_disk = ReadFile(/*warn=*/false)) {
    for (auto& [key, plan] : *on_disk) {
      for (auto& [path, id] : plan) plans_[key].emplace(path, id);
    }
  }
  nlohmann::json j = {{"format", kFormat}, {"model_hash", model_hash_}, {"plans", plans_}};
  std::random_device random;
  const fs::path temp = absl::StrCat(file_->string(), ".tmp.", ::getpid(), ".", random());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << j.dump(1) << "\n";
    if (!out.flush()) {
      EngineLog()->warn("cannot write tuning cache {}: {}", temp.string(), std::strerror(errno));
      std::error_code ec;
      fs::remove(temp, ec);
      return;
    }
  }
  std::error_code ec;
  fs::rename(temp, *file_, ec);
  if (ec) {
    EngineLog()->warn("cannot write tuning cache {}: {}", file_->string(), ec.message());
    fs::remove(temp, ec);
  }
}

}  // namespace seqserve
