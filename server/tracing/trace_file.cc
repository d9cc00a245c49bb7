#include "server/tracing/trace_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "server/logging/named_logger.h"

namespace seqserve {
namespace {

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("trace");
  return *logger;
}

// Writes all of `bytes` at `offset`; false (errno set) when it could not.
bool WriteAt(int fd, std::string_view bytes, uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

// `opening` + `traces` + "]".
std::string Bracketed(const char* opening, std::string_view traces) {
  std::string text(opening);
  text.append(traces);
  text += ']';
  return text;
}

int OpenTruncated(const std::string& path) {
  return open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

}  // namespace

TraceFile::~TraceFile() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) close(fd_);
}

absl::Status TraceFile::CheckPath(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("the trace file's path is empty");
  std::error_code error;
  const std::filesystem::path file(path);
  if (std::filesystem::is_directory(file, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace file '", path, "' is a directory; name a file to write traces to"));
  }
  const std::filesystem::path parent =
      file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(parent, error)) {
    return absl::InvalidArgumentError(absl::StrCat("trace file '", path, "': its directory '",
                                                   parent.string(), "' does not exist"));
  }
  return absl::OkStatus();
}

void TraceFile::Append(std::string_view traces) {
  if (traces.empty()) return;
  absl::MutexLock lock(&mu_);
  if (failed_) return;
  bool written = false;
  if (fd_ < 0) {
    fd_ = OpenTruncated(path_);
    if (fd_ >= 0) {
      const std::string array = Bracketed("[", traces);
      written = WriteAt(fd_, array, 0);
      size_ = array.size();
    }
  } else {
    // Over the closing bracket: ",<traces>]".
    const std::string more = Bracketed(",", traces);
    written = WriteAt(fd_, more, size_ - 1);
    size_ += more.size() - 1;
  }
  if (!written) {
    failed_ = true;
    Log().error("cannot write traces to '{}': {}; tracing goes on without writing there", path_,
                std::strerror(errno));
  }
}

void TraceFile::WriteNumbered(std::string_view traces) {
  if (traces.empty()) return;
  uint64_t number = 0;
  {
    absl::MutexLock lock(&mu_);
    number = next_number_++;
  }
  const std::string path = absl::StrCat(path_, ".", number);
  const int fd = OpenTruncated(path);
  const bool written = fd >= 0 && WriteAt(fd, Bracketed("[", traces), 0);
  const int error = errno;
  if (fd >= 0) close(fd);
  if (!written) {
    Log().error("cannot write traces to '{}': {}; they are dropped", path, std::strerror(error));
  }
}

uint64_t TraceFile::next_number() const {
  absl::MutexLock lock(&mu_);
  return next_number_;
}

}  // namespace seqserve
