// The heap trimmer: one per process, asks coalesce, a steady stream of asks still trims, and
// heap blocks freed in the middle of a heap go back to the system (derivable: glibc returns
// only the top of a heap by itself; malloc_trim(0) also releases the pages of free chunks
// inside it, so RSS drops by about the freed bytes). Real time, generous bounds: the timing
// cases check counts that hold on any machine, however loaded.
#include "server/scheduling/heap_trimmer.h"

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace seqserve {
namespace {

// ASan and TSan (SEQSERVE_TSAN: scripts/tsan.sh) bring allocators of their own.
#if defined(__SANITIZE_ADDRESS__) || defined(SEQSERVE_TSAN)
constexpr bool kGlibcMalloc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif
#else
constexpr bool kGlibcMalloc = true;
#endif

// Waits (up to 10 s) until `trimmer` has trimmed `count` times.
bool WaitForTrims(const HeapTrimmer& trimmer, int64_t count) {
  for (int i = 0; i < 1000 && trimmer.trims() < count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return trimmer.trims() >= count;
}

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0;
  int64_t resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return resident_pages * sysconf(_SC_PAGESIZE);
}

TEST(HeapTrimmer, OneTrimmerPerProcessWhileAnyoneHoldsIt) {
  std::shared_ptr<HeapTrimmer> first = HeapTrimmer::Acquire();
  std::shared_ptr<HeapTrimmer> second = HeapTrimmer::Acquire({.quiet_ms = 1});
  EXPECT_EQ(first.get(), second.get());
}

TEST(HeapTrimmer, NoAskNoTrim) {
  std::shared_ptr<HeapTrimmer> trimmer = HeapTrimmer::Acquire({.quiet_ms = 1});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(trimmer->trims(), 0);
}

TEST(HeapTrimmer, AsksCloseTogetherMakeOneTrim) {
  std::shared_ptr<HeapTrimmer> trimmer =
      HeapTrimmer::Acquire({.quiet_ms = 300, .max_wait_ms = 60'000});
  for (int i = 0; i < 5; ++i) RequestHeapTrim();
  ASSERT_TRUE(WaitForTrims(*trimmer, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(trimmer->trims(), 1);
}

TEST(HeapTrimmer, ASteadyStreamOfAsksStillTrimsByTheMaximumWait) {
  // The quiet time never passes (an ask every 5 ms); only max_wait_ms makes it trim.
  std::shared_ptr<HeapTrimmer> trimmer =
      HeapTrimmer::Acquire({.quiet_ms = 60'000, .max_wait_ms = 50});
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < end) {
    RequestHeapTrim();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(trimmer->trims(), 2);
}

TEST(HeapTrimmer, ATrimIsFollowedByOneMoreAfterTheMaximumWait) {
  std::shared_ptr<HeapTrimmer> trimmer = HeapTrimmer::Acquire({.quiet_ms = 1, .max_wait_ms = 50});
  RequestHeapTrim();
  ASSERT_TRUE(WaitForTrims(*trimmer, 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(trimmer->trims(), 2);  // the follow-up asks for nothing more
}

TEST(HeapTrimmer, AskWithoutATrimmerDoesNothing) {
  RequestHeapTrim();  // none running: no effect, no crash
  std::shared_ptr<HeapTrimmer> trimmer = HeapTrimmer::Acquire({.quiet_ms = 1});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(trimmer->trims(), 0);
}

TEST(HeapTrimmer, FreedBlocksInsideTheHeapGoBackToTheSystem) {
  if (!kGlibcMalloc) GTEST_SKIP() << "the sanitizer's allocator is not glibc's heap";
  std::shared_ptr<HeapTrimmer> trimmer = HeapTrimmer::Acquire({.quiet_ms = 1});
  // 64 MiB in 32 KiB blocks (below glibc's mmap threshold, so from the heap), each followed by
  // a small block that stays, so the freed blocks cannot merge into the heap's top.
  constexpr int kBlocks = 2048;
  constexpr size_t kBlockBytes = 32 * 1024;
  std::vector<void*> blocks;
  std::vector<void*> keepers;
  for (int i = 0; i < kBlocks; ++i) {
    blocks.push_back(std::malloc(kBlockBytes));
    std::memset(blocks.back(), 1, kBlockBytes);
    keepers.push_back(std::malloc(64));
  }
  for (void* block : blocks) std::free(block);
  const int64_t before = ResidentBytes();
  RequestHeapTrim();
  ASSERT_TRUE(WaitForTrims(*trimmer, 1));
  const int64_t after = ResidentBytes();
  for (void* keeper : keepers) std::free(keeper);
  EXPECT_GE(before - after, int64_t{32} << 20)
      << "RSS " << before << " bytes before the trim, " << after << " after";
}

}  // namespace
}  // namespace seqserve
