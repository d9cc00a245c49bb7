// A POSIX shared memory object made by a test the way a client makes one (shm_open, ftruncate,
// mmap), named uniquely per process ("/seqserve_test_<pid>_<tag>_<n>") and unlinked when the
// object goes away, whatever the test's outcome.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace seqserve::testing {

class ShmObject {
 public:
  ShmObject(const std::string& tag, size_t bytes) : bytes_(bytes) {
    static std::atomic<int> counter{0};
    key_ = absl::StrCat("/seqserve_test_", getpid(), "_", tag, "_", counter++);
    fd_ = shm_open(key_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    EXPECT_GE(fd_, 0) << key_ << ": " << std::strerror(errno);
    if (fd_ < 0) return;
    EXPECT_EQ(ftruncate(fd_, static_cast<off_t>(bytes)), 0) << std::strerror(errno);
    void* mapping = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    EXPECT_NE(mapping, MAP_FAILED) << std::strerror(errno);
    if (mapping != MAP_FAILED) data_ = static_cast<std::byte*>(mapping);
  }
  ~ShmObject() {
    if (data_ != nullptr) munmap(data_, bytes_);
    if (fd_ >= 0) close(fd_);
    shm_unlink(key_.c_str());
  }
  ShmObject(const ShmObject&) = delete;
  ShmObject& operator=(const ShmObject&) = delete;

  const std::string& key() const { return key_; }
  size_t size() const { return bytes_; }
  std::byte* data() const { return data_; }

  void Write(size_t offset, const void* bytes, size_t count) {
    ASSERT_LE(offset + count, bytes_);
    std::memcpy(data_ + offset, bytes, count);
  }
  template <typename T>
  std::vector<T> Read(size_t offset, size_t count) const {
    std::vector<T> values(count);
    std::memcpy(values.data(), data_ + offset, count * sizeof(T));
    return values;
  }
  // How many mappings of this object the process has (this object's own included), from
  // /proc/self/maps: how a test sees that a server released its mapping.
  int Mappings() const {
    std::ifstream maps("/proc/self/maps");
    const std::string path = "/dev/shm" + key_;
    int count = 0;
    for (std::string line; std::getline(maps, line);) {
      if (line.size() >= path.size() &&
          line.compare(line.size() - path.size(), path.size(), path) == 0) {
        ++count;
      }
    }
    return count;
  }

  // Shrinks or grows the object (what a misbehaving client might do after registering).
  void Resize(size_t bytes) { EXPECT_EQ(ftruncate(fd_, static_cast<off_t>(bytes)), 0); }

 private:
  std::string key_;
  size_t bytes_ = 0;
  int fd_ = -1;
  std::byte* data_ = nullptr;
};

}  // namespace seqserve::testing
