// Reading the files of a model repository, which may be broken or hostile: only regular
// files are read (a FIFO must not hang the reader, a device such as /dev/zero must not be
// read forever), they are opened without blocking, their size is bounded before a byte is
// read, and they may be confined to a directory with every symlink resolved (so that a
// config.pbtxt symlinked to a secrets file elsewhere is refused, never read). Errors name
// the path and what is wrong with it, never the file's contents.
// Thread-safe: functions only; an OpenedFile is a plain owner of a descriptor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/byte_size.h"

namespace seqserve {

struct FilePolicy {
  // Largest file accepted, in bytes.
  uint64_t max_bytes = std::numeric_limits<uint64_t>::max();
  // Names the setting of max_bytes in the error ("--max-seq-file-bytes"); empty: none.
  std::string limit_name;
  // When not empty: the file, with every symlink on its path resolved, must lie inside this
  // directory (itself resolved first). Empty: symlinks may lead anywhere.
  std::filesystem::path confine_to;
};

// An open, regular, readable file; closes it on destruction.
class OpenedFile {
 public:
  OpenedFile(int fd, uint64_t size_bytes) : fd_(fd), size_bytes_(size_bytes) {}
  OpenedFile(OpenedFile&& other) noexcept;
  OpenedFile& operator=(OpenedFile&& other) noexcept;
  OpenedFile(const OpenedFile&) = delete;
  OpenedFile& operator=(const OpenedFile&) = delete;
  ~OpenedFile();

  int fd() const { return fd_; }
  // Gives up ownership of the descriptor.
  int Release();
  // The size when it was opened (fstat).
  uint64_t size_bytes() const { return size_bytes_; }

 private:
  int fd_ = -1;
  uint64_t size_bytes_ = 0;
};

// Opens `path` read-only and non-blocking (a FIFO without a writer opens at once instead of
// hanging). NOT_FOUND when it does not exist; INVALID_ARGUMENT when it is not a regular file
// ("is a FIFO, not a regular file"), is larger than policy.max_bytes, or lies outside
// policy.confine_to. The confinement is checked on the file actually opened (its path as
// the kernel resolved it), so a symlink swapped in between cannot slip through.
absl::StatusOr<OpenedFile> OpenRegularFile(const std::filesystem::path& path,
                                           const FilePolicy& policy);

// OpenRegularFile, then its whole contents. A file that grows past max_bytes while it is
// read is refused too.
absl::StatusOr<std::string> ReadRegularFile(const std::filesystem::path& path,
                                            const FilePolicy& policy);

}  // namespace seqserve
