// Copies to and from shared memory that survive the object shrinking under them: a mapping of
// two pages whose object is truncated to one. Touching the second page raises SIGBUS (POSIX:
// a mapped page wholly past the end of the object); the copies must return false, not kill
// the process, and work again afterwards. A SIGBUS outside a copy must still end the process.
#include "server/frontend/shared_memory_copy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace seqserve {
namespace {

class ShrunkMapping : public ::testing::Test {
 protected:
  void SetUp() override {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    name_ = "/seqserve_copy_test_" + std::to_string(getpid());
    fd_ = shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd_, 0) << std::strerror(errno);
    ASSERT_EQ(ftruncate(fd_, static_cast<off_t>(2 * page_)), 0);
    void* mapping = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    ASSERT_NE(mapping, MAP_FAILED);
    bytes_ = static_cast<char*>(mapping);
    std::memset(bytes_, 7, 2 * page_);
    ASSERT_EQ(ftruncate(fd_, static_cast<off_t>(page_)), 0);  // the client shrinks it
  }
  void TearDown() override {
    if (bytes_ != nullptr) munmap(bytes_, 2 * page_);
    if (fd_ >= 0) close(fd_);
    shm_unlink(name_.c_str());
  }

  size_t page_ = 0;
  std::string name_;
  int fd_ = -1;
  char* bytes_ = nullptr;
};

TEST_F(ShrunkMapping, CopiesPastTheEndFailAndTheProcessLives) {
  std::vector<char> buffer(2 * page_, 0);
  // Within the first page, still inside the object: fine.
  ASSERT_TRUE(CopyFromSharedMemory(buffer.data(), bytes_, page_));
  EXPECT_EQ(buffer[page_ - 1], 7);
  // Across the end, and wholly past it: false, twice in a row (the handler stays in place).
  for (int round = 0; round < 2; ++round) {
    EXPECT_FALSE(CopyFromSharedMemory(buffer.data(), bytes_, 2 * page_));
    EXPECT_FALSE(CopyToSharedMemory(bytes_ + page_, buffer.data(), page_));
  }
  // And copies that fit go on working.
  std::vector<char> fresh(page_, 3);
  ASSERT_TRUE(CopyToSharedMemory(bytes_, fresh.data(), page_));
  EXPECT_EQ(bytes_[0], 3);
}

TEST_F(ShrunkMapping, ABusErrorOutsideACopyStillEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<char> buffer(page_, 0);
  ASSERT_FALSE(CopyFromSharedMemory(buffer.data(), bytes_ + page_, page_));  // handler installed
  // Killed by SIGBUS (the default action), or under a sanitizer by its handler, which was
  // there before and which the copy's handler passes the signal on to.
  EXPECT_DEATH(
      {
        volatile char* past = bytes_ + page_;
        (void)*past;
      },
      "");
}

}  // namespace
}  // namespace seqserve
