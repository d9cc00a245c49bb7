// A minimal parallel-for for hand-written kernels, on OpenMP (the threading runtime
// oneDNN uses here), so kernels and primitives share the worker's thread count.
// Thread-safe; call from a worker thread.
#pragma once

#include <algorithm>
#include <cstdint>

namespace seqserve {

// Calls fn(begin, end) over [0, n) split into contiguous chunks on up to `num_threads`
// threads. Runs inline when there is one thread or little work.
template <typename Fn>
void ParallelFor(int64_t n, int num_threads, Fn&& fn, int64_t min_chunk = 4096) {
  const int64_t chunks = std::min<int64_t>(num_threads, (n + min_chunk - 1) / min_chunk);
  if (chunks <= 1) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = n * c / chunks;
    const int64_t end = n * (c + 1) / chunks;
    fn(begin, end);
  }
}

}  // namespace seqserve
