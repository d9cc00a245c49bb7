// Triton's system shared memory extension, for every front end: a client on the same host
// creates a POSIX shared memory object (shm_open), registers a region of it under a name
// (gRPC SystemSharedMemoryRegister, REST POST /v2/systemsharedmemory/region/<name>/register),
// and then names the region in a tensor's parameters instead of sending the tensor's bytes:
//   "shared_memory_region"     the region's name (string)
//   "shared_memory_byte_size"  the tensor's bytes in the region (int64)
//   "shared_memory_offset"     where they start in the region (int64, optional, default 0)
// An input is copied out of the mapping, an output copied into it, each with the guarded copy
// of shared_memory_copy.h.
//
// The registry maps each region once, at registration: shm_open(key, O_RDWR), fstat, and
// mmap of [offset, offset + byte_size) of the object (the mapping starts at the page below
// `offset`, so any offset works, as a file offset would). It checks every range against the
// object's size and every block against its region with overflow-safe arithmetic, so nothing
// outside a registered region is ever read or written. A region is held by shared_ptr:
// Unregister removes the name at once, and the mapping goes when the last request using it
// is answered. The object's size is checked again on every use (a client may truncate it;
// touching a mapped page past the end raises SIGBUS), and since it may still shrink between
// that check and the copy, the copy itself survives it (shared_memory_copy.h).
//
// Errors are INVALID_ARGUMENT (SPEC §7) and name the region, the key and the numbers.
// Unregistering a name that is not registered is not an error (as in Triton: unregistering
// is idempotent, and Triton's clients unregister everything before they start).
// Thread-safe: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace seqserve {

// One registered region, mapped for as long as anyone holds it. Immutable.
class SharedMemoryRegion {
 public:
  ~SharedMemoryRegion();  // unmaps and closes the object
  SharedMemoryRegion(const SharedMemoryRegion&) = delete;
  SharedMemoryRegion& operator=(const SharedMemoryRegion&) = delete;

  const std::string& name() const { return name_; }
  const std::string& key() const { return key_; }
  // Where the region lies in the object.
  uint64_t offset() const { return offset_; }
  uint64_t byte_size() const { return byte_size_; }
  // The region's first byte in this process.
  std::byte* data() const { return data_; }

 private:
  friend class SharedMemoryRegistry;
  SharedMemoryRegion() = default;

  std::string name_;
  std::string key_;
  uint64_t offset_ = 0;
  uint64_t byte_size_ = 0;
  int fd_ = -1;                   // kept open to check the object's size on each use
  void* mapping_ = nullptr;       // page-aligned, mapping_bytes_ long
  size_t mapping_bytes_ = 0;
  std::byte* data_ = nullptr;     // inside the mapping
};

// A tensor's bytes inside a region; holds the region mapped.
struct SharedMemoryBlock {
  std::shared_ptr<const SharedMemoryRegion> region;
  std::span<std::byte> bytes;
  // Where the block starts in the region.
  uint64_t offset = 0;
};

// A tensor's shared memory parameters as a request gave them (views into the request).
struct SharedMemoryParams {
  std::string_view region;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// What the status calls report of a region.
struct SharedMemoryRegionStatus {
  std::string name;
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// A tensor's parameters as a front end found them: nullopt when the tensor uses none;
// INVALID_ARGUMENT naming `tensor` ("input 'input'") when only some of the required ones are
// there, a number is negative, or the region name is empty.
absl::StatusOr<std::optional<SharedMemoryParams>> MakeSharedMemoryParams(
    std::string_view tensor, std::optional<std::string_view> region,
    std::optional<int64_t> offset, std::optional<int64_t> byte_size);

// The error of every shared memory call and tensor while the server runs without
// --allow-shared-memory: UNIMPLEMENTED, saying how to turn it on and why it is off; `what`
// (e.g. "input 'input'") prefixes it when given.
absl::Status SharedMemoryOffError(std::string_view what = "");

class SharedMemoryRegistry {
 public:
  // Each region holds a file descriptor and a mapping: a client registering without end
  // would exhaust the process's descriptors (and with them new connections).
  static constexpr size_t kMaxRegions = 1024;

  SharedMemoryRegistry() = default;
  ~SharedMemoryRegistry();  // UnregisterAll
  SharedMemoryRegistry(const SharedMemoryRegistry&) = delete;
  SharedMemoryRegistry& operator=(const SharedMemoryRegistry&) = delete;

  // Maps [offset, offset + byte_size) of the shared memory object `key` as region `name`.
  // INVALID_ARGUMENT when `name` is empty or registered, the object cannot be opened for
  // reading and writing (no such key, no permission), byte_size is 0, or the range reaches
  // past the end of the object; RESOURCE_EXHAUSTED when kMaxRegions are registered.
  absl::Status Register(std::string_view name, std::string_view key, uint64_t offset,
                        uint64_t byte_size);

  // Forgets region `name` ("" = every region); its mapping goes once no request holds it.
  void Unregister(std::string_view name);
  void UnregisterAll() { Unregister(""); }

  // The region `name`, or every region ("", sorted by name). INVALID_ARGUMENT for a name that
  // is not registered.
  absl::StatusOr<std::vector<SharedMemoryRegionStatus>> Status(std::string_view name) const;

  // The block `params` names, for `tensor` (named in errors, e.g. "input 'input'").
  // INVALID_ARGUMENT when the region is not registered, the block reaches past the region's
  // end, or the object no longer holds the whole region.
  absl::StatusOr<SharedMemoryBlock> Find(std::string_view tensor,
                                         const SharedMemoryParams& params) const;

  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const SharedMemoryRegion>> regions_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace seqserve
