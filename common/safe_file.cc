#include "common/safe_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Where the kernel says `fd` leads; empty when /proc is not mounted.
fs::path OpenedPath(int fd) {
  std::error_code ec;
  fs::path resolved = fs::read_symlink(fs::path("/proc/self/fd") / std::to_string(fd), ec);
  return ec ? fs::path() : resolved;
}

// Whether `path` (absolute and resolved) is `dir` or lies below it.
bool IsInside(const fs::path& path, const fs::path& dir) {
  auto p = path.begin();
  for (auto d = dir.begin(); d != dir.end(); ++d, ++p) {
    if (d->empty()) continue;  // the empty element after a trailing separator
    if (p == path.end() || *p != *d) return false;
  }
  return true;
}

absl::Status CheckConfined(const fs::path& path, int fd, const fs::path& confine_to) {
  std::error_code ec;
  const fs::path root = fs::canonical(confine_to, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot resolve the directory ", confine_to.string(), ": ", ec.message()));
  }
  fs::path resolved = OpenedPath(fd);
  // Without /proc, resolve the name again: what was opened is then only nearly certain.
  if (resolved.empty()) resolved = fs::canonical(path, ec);
  if (ec || !IsInside(resolved, root)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.string(), ": a symlink on its path leads outside ", root.string(),
        "; it is not read (start seqserve with --allow-symlinks-outside-repository to allow "
        "such links)"));
  }
  return absl::OkStatus();
}

}  // namespace

OpenedFile::OpenedFile(OpenedFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_bytes_(other.size_bytes_) {}

OpenedFile& OpenedFile::operator=(OpenedFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_bytes_ = other.size_bytes_;
  }
  return *this;
}

OpenedFile::~OpenedFile() {
  if (fd_ >= 0) ::close(fd_);
}

int OpenedFile::Release() { return std::exchange(fd_, -1); }

absl::StatusOr<OpenedFile> OpenRegularFile(const fs::path& path, const FilePolicy& policy) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. Symlinks are
  // followed (a repository may link versions to shared files); confine_to bounds where.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat(path.string(), ": no such file"));
    return absl::ErrnoToStatus(error, absl::StrCat("cannot open ", path.string()));
  }
  OpenedFile file(fd, 0);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot stat ", path.string()));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), " is ", KindOf(info.st_mode), ", not a regular file"));
  }
  if (!policy.confine_to.empty()) {
    if (absl::Status confined = CheckConfined(path, fd, policy.confine_to); !confined.ok()) {
      return confined;
    }
  }
  const uint64_t size_bytes = static_cast<uint64_t>(info.st_size);
  if (size_bytes > policy.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), " is ", FormatBytes(size_bytes),
                                                   "; ", LimitText(policy.max_bytes,
                                                                   policy.limit_name)));
  }
  return OpenedFile(file.Release(), size_bytes);
}

absl::StatusOr<std::string> ReadRegularFile(const fs::path& path, const FilePolicy& policy) {
  absl::StatusOr<OpenedFile> file = OpenRegularFile(path, policy);
  if (!file.ok()) return file.status();
  std::string contents;
  contents.reserve(static_cast<size_t>(file->size_bytes()));
  char buffer[64 * 1024];
  while (true) {
    const ssize_t n = ::read(file->fd(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", path.string()));
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
    if (contents.size() > policy.max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), " grew past ",
                                                     FormatBytes(policy.max_bytes),
                                                     " while it was read; ",
                                                     LimitText(policy.max_bytes,
                                                               policy.limit_name)));
    }
  }
  return contents;
}

}  // namespace seqserve
