#include "core/tuner.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace seqserve {
namespace {

// Rounds of timing per candidate still in the race.
constexpr int kRounds = 3;
// A candidate this much slower than the best is out after the first round (a single
// sample is noisy, but not by that much), and after the second.
constexpr double kFirstDropRatio = 2.0;
constexpr double kDropRatio = 1.3;
// One timing sample is the minimum of enough back-to-back runs to fill this much time.
constexpr double kSampleMs = 0.2;
constexpr int kMaxRunsPerSample = 64;
// A non-default candidate must be this much faster to be chosen.
constexpr double kSwitchMargin = 1.02;
// Layers whose arguments need more zero-filled memory than this are not timed: that much
// again at load (VGG's 400 MB classifier layer) is more than its speed-up is worth.
constexpr size_t kMaxTimedBytes = size_t{256} << 20;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

double Ms(Tuner::Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The arguments a primitive executes with, from its primitive descriptor.
std::vector<std::pair<int, dnnl::memory::desc>> ExecArgs(const dnnl::primitive_desc_base& pd) {
  std::vector<std::pair<int, dnnl::memory::desc>> args;
  for (int arg : {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST,
                  DNNL_ARG_SCRATCHPAD}) {
    dnnl::memory::desc md = pd.query_md(dnnl::query::exec_arg_md, arg);
    if (md.get_size() > 0) args.emplace_back(arg, md);
  }
  return args;
}

size_t ArgBytes(const std::vector<std::pair<int, dnnl::memory::desc>>& args) {
  size_t bytes = 0;
  for (const auto& [arg, md] : args) bytes += md.get_size();
  return bytes;
}

}  // namespace

Tuner::Tuner(const dnnl::engine& engine, Clock::time_point deadline)
    : engine_(engine), stream_(engine), deadline_(deadline) {}

double Tuner::RunOnce(Timed& item) {
  if (buffers_.size() < item.args.size()) buffers_.resize(item.args.size());
  std::unordered_map<int, dnnl::memory> args;
  float* dst = nullptr;
  for (size_t i = 0; i < item.args.size(); ++i) {
    const dnnl::memory::desc& md = item.args[i].second;
    if (buffers_[i].Reserve(md.get_size())) std::memset(buffers_[i].data(), 0, buffers_[i].size());
    args.emplace(item.args[i].first, dnnl::memory(md, engine_, buffers_[i].data()));
    if (item.args[i].first == DNNL_ARG_DST) dst = reinterpret_cast<float*>(buffers_[i].data());
  }
  const int threads = omp_get_max_threads();
  double best = kInfinity;
  const auto sample_start = Clock::now();
  try {
    for (int run = 0; run < kMaxRunsPerSample; ++run) {
      const auto t0 = Clock::now();
      item.primitive.execute(stream_, args);
      stream_.wait();
      if (item.epilogue) item.epilogue(dst, dst, threads);
      const auto t1 = Clock::now();
      best = std::min(best, Ms(t1 - t0));
      if (Ms(t1 - sample_start) >= kSampleMs || t1 >= deadline_) break;
    }
  } catch (const dnnl::error&) {
    return kInfinity;  // a candidate that cannot run is never chosen
  }
  return best;
}

bool Tuner::TimeAll(std::vector<Timed>& items) {
  // Round by round, so that a noisy moment hurts every candidate alike.
  std::vector<bool> alive(items.size(), true);
  for (Timed& item : items) item.best_ms = kInfinity;
  for (int round = 0; round < kRounds; ++round) {
    for (size_t i = 0; i < items.size(); ++i) {
      if (!alive[i]) continue;
      if (Clock::now() >= deadline_) return round >= 2;
      items[i].best_ms = std::min(items[i].best_ms, RunOnce(items[i]));
    }
    double best = kInfinity;
    for (const Timed& item : items) best = std::min(best, item.best_ms);
    const double ratio = round == 0 ? kFirstDropRatio : kDropRatio;
    int left = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (alive[i] && items[i].best_ms > ratio * best) alive[i] = false;
      left += alive[i];
    }
    if (left <= 1 && round >= 1) return true;
  }
  return true;
}

double Tuner::ReorderMs(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  if (from == to || from.dims() != to.dims()) return 0;
  for (const auto& [pair, ms] : reorders_) {
    if (pair.first == from && pair.second == to) return ms;
  }
  dnnl::reorder::primitive_desc pd(engine_, from, engine_, to);
  std::vector<Timed> items(1);
  items[0].primitive = dnnl::reorder(pd);
  items[0].args = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  const double ms = TimeAll(items) ? items[0].best_ms : kInfinity;
  reorders_.push_back({{from, to}, ms});
  return ms;
}

Tuner::Choice Tuner::ChooseChain(const dnnl::memory::desc& input,
                                 const std::vector<Layer>& layers) {
  const size_t n = layers.size();
  Choice choice;
  choice.index.assign(n, 0);
  choice.untimed.assign(n, false);

  // Layer times; a layer that cannot be timed keeps only its default.
  std::vector<std::vector<double>> node(n);
  std::vector<std::vector<bool>> allowed(n);
  for (size_t l = 0; l < n; ++l) {
    const std::vector<Candidate>& candidates = layers[l].candidates;
    node[l].assign(candidates.size(), 0);
    allowed[l].assign(candidates.size(), false);
    if (layers[l].fixed >= 0) {
      allowed[l][layers[l].fixed] = true;
      continue;
    }
    std::vector<Timed> items(candidates.size());
    bool fits = true;
    for (size_t c = 0; c < candidates.size(); ++c) {
      items[c].primitive = candidates[c].primitive;
      items[c].args = ExecArgs(candidates[c].pd);
      items[c].epilogue = candidates[c].epilogue;
      fits = fits && ArgBytes(items[c].args) <= kMaxTimedBytes;
    }
    if (candidates.size() > 1 && fits && TimeAll(items)) {
      for (size_t c = 0; c < candidates.size(); ++c) {
        node[l][c] = items[c].best_ms * (c == 0 ? 1.0 : kSwitchMargin);
        allowed[l][c] = node[l][c] < kInfinity;
      }
    } else {
      choice.untimed[l] = candidates.size() > 1;
      allowed[l][0] = true;
    }
  }

  // Cheapest path through the chain, reorders between neighbours included.
  std::vector<std::vector<double>> cost(n);
  std::vector<std::vector<int>> from(n);
  for (size_t l = 0; l < n; ++l) {
    const std::vector<Candidate>& candidates = layers[l].candidates;
    cost[l].assign(candidates.size(), kInfinity);
    from[l].assign(candidates.size(), -1);
    for (size_t c = 0; c < candidates.size(); ++c) {
      if (!allowed[l][c]) continue;
      const dnnl::memory::desc src = candidates[c].pd.src_desc();
      if (l == 0) {
        cost[l][c] = node[l][c] + ReorderMs(input, src);
        continue;
      }
      for (size_t p = 0; p < layers[l - 1].candidates.size(); ++p) {
        if (cost[l - 1][p] == kInfinity) continue;
        const double total =
            cost[l - 1][p] + ReorderMs(layers[l - 1].candidates[p].pd.dst_desc(), src) + node[l][c];
        if (total < cost[l][c]) {
          cost[l][c] = total;
          from[l][c] = static_cast<int>(p);
        }
      }
    }
  }
  int c = 0;
  for (size_t k = 0; k < cost[n - 1].size(); ++k) {
    if (cost[n - 1][k] < cost[n - 1][c]) c = static_cast<int>(k);
  }
  for (size_t l = n; l-- > 0;) {
    // Every cost is infinite only if a reorder could not be timed: keep the defaults then.
    if (cost[l][c] == kInfinity) {
      std::fill(choice.index.begin(), choice.index.end(), 0);
      for (size_t k = 0; k < n; ++k) {
        if (layers[k].fixed >= 0) choice.index[k] = layers[k].fixed;
      }
      return choice;
    }
    choice.index[l] = c;
    if (l > 0) c = from[l][c];
  }
  return choice;
}

}  // namespace seqserve
