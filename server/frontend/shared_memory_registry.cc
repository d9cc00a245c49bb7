#include "server/frontend/shared_memory_registry.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logging/named_logger.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("shm");
  return *logger;
}

std::string Quoted(std::string_view text) { return absl::StrCat("'", std::string(text), "'"); }

// The object's size in bytes, or the error naming `key`.
absl::StatusOr<uint64_t> ObjectBytes(int fd, std::string_view key) {
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("shared memory object ", Quoted(key),
                                                   ": fstat failed: ", std::strerror(errno)));
  }
  return info.st_size > 0 ? static_cast<uint64_t>(info.st_size) : 0;
}

absl::Status TooManyRegions(const std::string& what) {
  return absl::ResourceExhaustedError(
      absl::StrCat(what, ": ", SharedMemoryRegistry::kMaxRegions,
                   " regions are registered, the most this server holds; unregister some first"));
}

// True when [offset, offset + bytes) lies inside [0, size), without overflowing.
bool Inside(uint64_t offset, uint64_t bytes, uint64_t size) {
  return offset <= size && bytes <= size - offset;
}

}  // namespace

SharedMemoryRegion::~SharedMemoryRegion() {
  if (mapping_ != nullptr && munmap(mapping_, mapping_bytes_) != 0) {
    Log().error("munmap of shared memory region '{}' failed: {}", name_, std::strerror(errno));
  }
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<std::optional<SharedMemoryParams>> MakeSharedMemoryParams(
    std::string_view tensor, std::optional<std::string_view> region, std::optional<int64_t> offset,
    std::optional<int64_t> byte_size) {
  const std::string what(tensor);
  if (!region.has_value() && !byte_size.has_value()) {
    if (offset.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": parameter shared_memory_offset without shared_memory_region and "
                "shared_memory_byte_size"));
    }
    return std::nullopt;
  }
  if (!region.has_value() || !byte_size.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": shared memory needs both parameters shared_memory_region and "
              "shared_memory_byte_size; the request has only ",
        region.has_value() ? "shared_memory_region" : "shared_memory_byte_size"));
  }
  if (region->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": parameter shared_memory_region is empty"));
  }
  if (*byte_size < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": parameter shared_memory_byte_size must be >= 0, got ", *byte_size));
  }
  if (offset.value_or(0) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": parameter shared_memory_offset must be >= 0, got ", *offset));
  }
  return SharedMemoryParams{*region, static_cast<uint64_t>(offset.value_or(0)),
                            static_cast<uint64_t>(*byte_size)};
}

SharedMemoryRegistry::~SharedMemoryRegistry() { UnregisterAll(); }

absl::Status SharedMemoryRegistry::Register(std::string_view name, std::string_view key,
                                            uint64_t offset, uint64_t byte_size) {
  const std::string what = absl::StrCat("shared memory region ", Quoted(name));
  if (name.empty()) {
    return absl::InvalidArgumentError("a shared memory region needs a name");
  }
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the key is empty"));
  }
  if (byte_size == 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": byte_size must be at least 1"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (regions_.contains(std::string(name))) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is already registered; unregister it first"));
    }
    if (regions_.size() >= kMaxRegions) return TooManyRegions(what);
  }

  // The mapping is made outside the lock (inference keeps finding regions meanwhile); a
  // concurrent registration of the same name is caught when inserting.
  std::shared_ptr<SharedMemoryRegion> region(new SharedMemoryRegion());
  region->name_ = std::string(name);
  region->key_ = std::string(key);
  region->offset_ = offset;
  region->byte_size_ = byte_size;
  region->fd_ = shm_open(region->key_.c_str(), O_RDWR, 0);
  if (region->fd_ < 0) {
    const int error = errno;
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": cannot open shared memory object ", Quoted(key), " for reading and writing: ",
        error == ENOENT ? "no such object (create it with shm_open first)"
                        : std::strerror(error)));
  }
  absl::StatusOr<uint64_t> object_bytes = ObjectBytes(region->fd_, key);
  if (!object_bytes.ok()) return object_bytes.status();
  if (!Inside(offset, byte_size, *object_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": offset ", offset, " + byte_size ", byte_size,
        " reaches past the end of shared memory object ", Quoted(key), " (", *object_bytes,
        " bytes)"));
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t map_offset = offset - offset % page;
  region->mapping_bytes_ = static_cast<size_t>(offset - map_offset + byte_size);
  void* mapping = mmap(nullptr, region->mapping_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED,
                       region->fd_, static_cast<off_t>(map_offset));
  if (mapping == MAP_FAILED) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": cannot map ", byte_size,
                                                   " bytes of shared memory object ",
                                                   Quoted(key), ": ", std::strerror(errno)));
  }
  region->mapping_ = mapping;
  region->data_ = static_cast<std::byte*>(mapping) + (offset - map_offset);

  absl::MutexLock lock(&mu_);
  if (regions_.size() >= kMaxRegions) return TooManyRegions(what);
  if (!regions_.try_emplace(std::string(name), std::move(region)).second) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is already registered; unregister it first"));
  }
  Log().debug("registered {} bytes of '{}' at offset {} as region '{}'", byte_size,
              std::string(key), offset, std::string(name));
  return absl::OkStatus();
}

void SharedMemoryRegistry::Unregister(std::string_view name) {
  // Released outside the lock: the last holder unmaps.
  std::vector<std::shared_ptr<const SharedMemoryRegion>> released;
  {
    absl::MutexLock lock(&mu_);
    if (name.empty()) {
      for (auto& [region_name, region] : regions_) released.push_back(std::move(region));
      regions_.clear();
    } else if (auto it = regions_.find(std::string(name)); it != regions_.end()) {
      released.push_back(std::move(it->second));
      regions_.erase(it);
    }
  }
}

absl::StatusOr<std::vector<SharedMemoryRegionStatus>> SharedMemoryRegistry::Status(
    std::string_view name) const {
  std::vector<SharedMemoryRegionStatus> statuses;
  absl::MutexLock lock(&mu_);
  for (const auto& [region_name, region] : regions_) {
    if (!name.empty() && region_name != name) continue;
    statuses.push_back({region->name(), region->key(), region->offset(), region->byte_size()});
  }
  if (!name.empty() && statuses.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared memory region ", Quoted(name), " is not registered"));
  }
  std::sort(statuses.begin(), statuses.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return statuses;
}

absl::StatusOr<SharedMemoryBlock> SharedMemoryRegistry::Find(
    std::string_view tensor, const SharedMemoryParams& params) const {
  std::shared_ptr<const SharedMemoryRegion> region;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = regions_.find(std::string(params.region)); it != regions_.end()) {
      region = it->second;
    }
  }
  const std::string what(tensor);
  if (region == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": shared memory region ",
                                                   Quoted(params.region), " is not registered"));
  }
  if (!Inside(params.offset, params.byte_size, region->byte_size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": shared_memory_offset ", params.offset, " + shared_memory_byte_size ",
        params.byte_size, " reaches past the end of region ", Quoted(region->name()), " (",
        region->byte_size(), " bytes)"));
  }
  // The client may have shrunk the object since it registered the region.
  absl::StatusOr<uint64_t> object_bytes = ObjectBytes(region->fd_, region->key());
  if (!object_bytes.ok()) return object_bytes.status();
  if (!Inside(region->offset(), region->byte_size(), *object_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": shared memory object ", Quoted(region->key()), " of region ",
        Quoted(region->name()), " shrank to ", *object_bytes, " bytes; the region needs ",
        region->offset(), " + ", region->byte_size()));
  }
  SharedMemoryBlock block;
  block.bytes = std::span<std::byte>(region->data() + params.offset,
                                     static_cast<size_t>(params.byte_size));
  block.offset = params.offset;
  block.region = std::move(region);
  return block;
}

size_t SharedMemoryRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return regions_.size();
}

absl::Status SharedMemoryOffError(std::string_view what) {
  return absl::UnimplementedError(absl::StrCat(
      what.empty() ? "" : absl::StrCat(std::string(what), ": "),
      "system shared memory is off: start seqserve with --allow-shared-memory to let clients "
      "on this host pass tensors in shared memory (a client that may register regions can "
      "make the server read and write any shared memory object the server's user can open)"));
}

}  // namespace seqserve
