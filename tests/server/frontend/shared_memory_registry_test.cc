// The system shared memory registry on real POSIX shared memory objects made by the test
// (tests/util/shm_test_util.h): ranges checked against the object and the region with
// overflow-safe arithmetic, the errors naming the numbers, and mappings that outlive an
// unregister while a request holds them (counted in /proc/self/maps).
#include "server/frontend/shared_memory_registry.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/shm_test_util.h"

namespace seqserve {
namespace {

using ::testing::HasSubstr;
using testing::ShmObject;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// How many mappings of `object` this process has (the test's own one included).
int Mappings(const ShmObject& object) { return object.Mappings(); }

TEST(SharedMemoryRegistry, ARegionAtAnUnalignedOffsetSeesAndWritesTheClientsBytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  ShmObject object("map", 3 * page);
  for (size_t i = 0; i < object.size(); ++i) object.data()[i] = static_cast<std::byte>(i * 7);
  SharedMemoryRegistry registry;
  // Starts inside the second page, ends inside the third.
  const uint64_t offset = page + 100;
  ASSERT_TRUE(registry.Register("r", object.key(), offset, page).ok());

  absl::StatusOr<SharedMemoryBlock> block = registry.Find("input 'x'", {"r", 10, 20});
  ASSERT_TRUE(block.ok()) << block.status();
  ASSERT_EQ(block->bytes.size(), 20u);
  EXPECT_EQ(block->offset, 10u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(block->bytes[i], object.data()[offset + 10 + i]) << i;
  }
  // Writes land in the client's object.
  block->bytes[0] = std::byte{0x5a};
  EXPECT_EQ(object.data()[offset + 10], std::byte{0x5a});
  // The whole region, to its last byte.
  EXPECT_TRUE(registry.Find("input 'x'", {"r", 0, page}).ok());
  EXPECT_TRUE(registry.Find("input 'x'", {"r", page - 1, 1}).ok());
}

TEST(SharedMemoryRegistry, RegisterRefusesWhatItCannotMapWithinTheObject) {
  ShmObject object("register", 4096);
  SharedMemoryRegistry registry;

  absl::Status missing = registry.Register("r", object.key() + "_missing", 0, 16);
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.message(), HasSubstr("cannot open shared memory object '" + object.key() +
                                           "_missing'"));
  EXPECT_THAT(missing.message(), HasSubstr("no such object"));

  absl::Status past = registry.Register("r", object.key(), 4000, 100);
  EXPECT_EQ(past.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(past.message(),
              HasSubstr("offset 4000 + byte_size 100 reaches past the end of shared memory "
                        "object '" + object.key() + "' (4096 bytes)"));
  // offset + byte_size wraps around to a small number: still past the end.
  EXPECT_EQ(registry.Register("r", object.key(), kMax - 10, 20).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Register("r", object.key(), 20, kMax - 10).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Register("r", object.key(), 4097, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(registry.Register("r", object.key(), 0, 0).message(),
              HasSubstr("byte_size must be at least 1"));
  EXPECT_EQ(registry.Register("", object.key(), 0, 16).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Register("r", "", 0, 16).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.size(), 0u);

  ASSERT_TRUE(registry.Register("r", object.key(), 96, 4000).ok());  // exactly to the end
  absl::Status duplicate = registry.Register("r", object.key(), 0, 16);
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(duplicate.message(), HasSubstr("region 'r' is already registered"));
  // Another name for the same bytes is fine (a client may use one object for several).
  EXPECT_TRUE(registry.Register("r2", object.key(), 0, 16).ok());
  EXPECT_EQ(registry.size(), 2u);
}

TEST(SharedMemoryRegistry, FindRefusesUnknownRegionsAndBlocksPastTheRegion) {
  ShmObject object("find", 8192);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register("r", object.key(), 1000, 3000).ok());

  absl::StatusOr<SharedMemoryBlock> unknown = registry.Find("input 'x'", {"nope", 0, 4});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("input 'x': shared memory region 'nope' is not registered"));

  absl::StatusOr<SharedMemoryBlock> past = registry.Find("output 'y'", {"r", 2000, 1001});
  EXPECT_EQ(past.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(past.status().message(),
              HasSubstr("output 'y': shared_memory_offset 2000 + shared_memory_byte_size 1001 "
                        "reaches past the end of region 'r' (3000 bytes)"));
  // Sums that wrap around.
  EXPECT_FALSE(registry.Find("t", {"r", kMax, 2}).ok());
  EXPECT_FALSE(registry.Find("t", {"r", 2, kMax}).ok());
  EXPECT_FALSE(registry.Find("t", {"r", 3001, 0}).ok());
  EXPECT_TRUE(registry.Find("t", {"r", 2000, 1000}).ok());
}

TEST(SharedMemoryRegistry, AnObjectShrunkAfterRegistrationIsRefusedNotTouched) {
  ShmObject object("shrink", 8192);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register("r", object.key(), 4096, 4096).ok());
  object.Resize(5000);
  absl::StatusOr<SharedMemoryBlock> block = registry.Find("input 'x'", {"r", 0, 16});
  EXPECT_EQ(block.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(block.status().message(),
              HasSubstr("shrank to 5000 bytes; the region needs 4096 + 4096"));
  object.Resize(8192);
  EXPECT_TRUE(registry.Find("input 'x'", {"r", 0, 16}).ok());
}

TEST(SharedMemoryRegistry, UnregisterWhileInUseKeepsTheMappingUntilTheLastHolderLetsGo) {
  ShmObject object("inuse", 4096);
  object.data()[8] = std::byte{42};
  SharedMemoryRegistry registry;
  ASSERT_EQ(Mappings(object), 1);  // the test's own
  ASSERT_TRUE(registry.Register("r", object.key(), 0, 4096).ok());
  EXPECT_EQ(Mappings(object), 2);

  absl::StatusOr<SharedMemoryBlock> block = registry.Find("input 'x'", {"r", 8, 8});
  ASSERT_TRUE(block.ok());
  registry.Unregister("r");
  // Gone for new requests...
  EXPECT_FALSE(registry.Find("input 'x'", {"r", 0, 8}).ok());
  EXPECT_FALSE(registry.Status("r").ok());
  // ...still mapped for the one in flight.
  EXPECT_EQ(Mappings(object), 2);
  EXPECT_EQ(block->bytes[0], std::byte{42});
  // The name can be registered again meanwhile.
  ASSERT_TRUE(registry.Register("r", object.key(), 0, 64).ok());
  EXPECT_EQ(Mappings(object), 3);
  *block = SharedMemoryBlock();
  EXPECT_EQ(Mappings(object), 2);
  // Unregistering a name that is not registered is a no-op, as in Triton.
  registry.Unregister("never");
  EXPECT_EQ(registry.size(), 1u);
}

TEST(SharedMemoryRegistry, StatusListsRegionsByNameAndUnregisterAllReleasesEveryMapping) {
  ShmObject a("status_a", 4096), b("status_b", 4096);
  {
    SharedMemoryRegistry registry;
    ASSERT_TRUE(registry.Register("zeta", a.key(), 16, 32).ok());
    ASSERT_TRUE(registry.Register("alpha", b.key(), 0, 4096).ok());

    absl::StatusOr<std::vector<SharedMemoryRegionStatus>> all = registry.Status("");
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 2u);
    EXPECT_EQ((*all)[0].name, "alpha");
    EXPECT_EQ((*all)[0].key, b.key());
    EXPECT_EQ((*all)[0].byte_size, 4096u);
    EXPECT_EQ((*all)[1].name, "zeta");
    EXPECT_EQ((*all)[1].offset, 16u);
    EXPECT_EQ((*all)[1].byte_size, 32u);

    absl::StatusOr<std::vector<SharedMemoryRegionStatus>> one = registry.Status("zeta");
    ASSERT_TRUE(one.ok());
    ASSERT_EQ(one->size(), 1u);
    EXPECT_EQ((*one)[0].key, a.key());
    EXPECT_THAT(registry.Status("other").status().message(),
                HasSubstr("shared memory region 'other' is not registered"));

    registry.UnregisterAll();
    EXPECT_EQ(registry.size(), 0u);
    EXPECT_EQ(Mappings(a), 1);
    EXPECT_EQ(Mappings(b), 1);
    ASSERT_TRUE(registry.Register("again", a.key(), 0, 64).ok());
    EXPECT_EQ(Mappings(a), 2);
  }
  // The destructor releases what is left.
  EXPECT_EQ(Mappings(a), 1);
}

TEST(SharedMemoryRegistry, RegistersAtMostItsLimitOfRegions) {
  // Each region holds a descriptor: this needs more than the common soft limit of 1024 (the
  // server raises its own at start-up, main.cc).
  rlimit files{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  const rlim_t needed = SharedMemoryRegistry::kMaxRegions + 64;
  if (files.rlim_cur < needed && files.rlim_max >= needed) {
    files.rlim_cur = needed;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
  }
  if (files.rlim_cur < needed) {
    GTEST_SKIP() << "needs " << needed << " file descriptors; the hard limit is "
                 << files.rlim_max;
  }
  ShmObject object("many", 4096);
  SharedMemoryRegistry registry;
  for (size_t i = 0; i < SharedMemoryRegistry::kMaxRegions; ++i) {
    ASSERT_TRUE(registry.Register(absl::StrCat("r", i), object.key(), 0, 64).ok()) << i;
  }
  const absl::Status refused = registry.Register("one_more", object.key(), 0, 64);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("1024 regions are registered"));
  registry.Unregister("r0");
  EXPECT_TRUE(registry.Register("one_more", object.key(), 0, 64).ok());
}

TEST(MakeSharedMemoryParams, NeedsRegionAndByteSizeTogetherAndNothingNegative) {
  EXPECT_FALSE(MakeSharedMemoryParams("input 'x'", std::nullopt, std::nullopt, std::nullopt)
                   ->has_value());
  absl::StatusOr<std::optional<SharedMemoryParams>> params =
      MakeSharedMemoryParams("input 'x'", "r", 8, 64);
  ASSERT_TRUE(params.ok() && params->has_value());
  EXPECT_EQ((*params)->region, "r");
  EXPECT_EQ((*params)->offset, 8u);
  EXPECT_EQ((*params)->byte_size, 64u);
  EXPECT_EQ((*MakeSharedMemoryParams("t", "r", std::nullopt, 4))->offset, 0u);

  EXPECT_THAT(MakeSharedMemoryParams("input 'x'", "r", std::nullopt, std::nullopt)
                  .status()
                  .message(),
              HasSubstr("input 'x': shared memory needs both parameters shared_memory_region "
                        "and shared_memory_byte_size; the request has only "
                        "shared_memory_region"));
  EXPECT_THAT(MakeSharedMemoryParams("t", std::nullopt, std::nullopt, 4).status().message(),
              HasSubstr("has only shared_memory_byte_size"));
  EXPECT_THAT(MakeSharedMemoryParams("t", std::nullopt, 4, std::nullopt).status().message(),
              HasSubstr("shared_memory_offset without"));
  EXPECT_THAT(MakeSharedMemoryParams("t", "r", -1, 4).status().message(),
              HasSubstr("shared_memory_offset must be >= 0, got -1"));
  EXPECT_THAT(MakeSharedMemoryParams("t", "r", 0, -4).status().message(),
              HasSubstr("shared_memory_byte_size must be >= 0, got -4"));
  EXPECT_THAT(MakeSharedMemoryParams("t", "", 0, 4).status().message(),
              HasSubstr("shared_memory_region is empty"));
}

}  // namespace
}  // namespace seqserve
