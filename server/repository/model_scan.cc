#include "server/repository/model_scan.h"

#include <sys/stat.h>

#include <exception>
#include <string_view>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/safe_file.h"
#include "server/config/config_parser.h"
#include "server/repository/model_dir.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

// The text files hashed for change detection are small; a bigger one is compared by size,
// mtime and inode only, so a poll never reads much.
constexpr uint64_t kMaxHashedBytes = uint64_t{1} << 20;

uint64_t Fnv1a(std::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

absl::StatusOr<ModelDirs> ScanRoots(const std::vector<fs::path>& roots) {
  ModelDirs dirs;
  for (const fs::path& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      return absl::NotFoundError(
          absl::StrCat("model repository '", root.string(), "' ",
                       fs::exists(root, ec) ? "is not a directory" : "does not exist"));
    }
    // Error codes throughout (a range-for's increment would throw).
    for (fs::directory_iterator it(root, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      std::error_code entry_ec;
      if (name.empty() || name[0] == '.' || !it->is_directory(entry_ec)) continue;
      dirs[name].push_back(it->path());
    }
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot list model repository '", root.string(), "': ", ec.message()));
    }
  }
  return dirs;
}

absl::Status DuplicateError(const std::string& name, const std::vector<fs::path>& paths) {
  std::vector<std::string> shown;
  for (const fs::path& path : paths) shown.push_back(path.string());
  return absl::InvalidArgumentError(
      absl::StrCat("model '", name, "' is in ", paths.size(),
                   " model repositories: ", absl::StrJoin(shown, " and ")));
}

absl::Status CheckUnique(const ModelDirs& dirs) {
  for (const auto& [name, paths] : dirs) {
    if (paths.size() > 1) return DuplicateError(name, paths);
  }
  return absl::OkStatus();
}

FileSignature ReadSignature(const fs::path& file, bool hash_content) {
  FileSignature signature;
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) return signature;
  signature.exists = true;
  signature.size = static_cast<uint64_t>(info.st_size);
  signature.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 +
                       static_cast<int64_t>(info.st_mtim.tv_nsec);
  signature.inode = static_cast<uint64_t>(info.st_ino);
  // Only a small regular file is read (never a FIFO or a device); whatever else it is, its
  // metadata above tells a change.
  if (hash_content && S_ISREG(info.st_mode) && signature.size <= kMaxHashedBytes) {
    absl::StatusOr<std::string> bytes =
        ReadRegularFile(file, FilePolicy{.max_bytes = kMaxHashedBytes});
    if (bytes.ok()) signature.content_hash = Fnv1a(*bytes);
  }
  return signature;
}

DiskModel ReadDiskModel(const std::string& name, const fs::path& dir,
                        const FilePolicy& config_policy) {
  DiskModel model{name, dir, FileSignature{}, inference::ModelConfig(), VersionPolicy{}, {}, {}};
  // Whatever the directory holds, reading it fails this model alone.
  try {
    model.config_signature = ReadSignature(dir / kConfigFile, /*hash_content=*/true);
    model.versions = ListVersions(dir);
    if (model.config_signature.exists) {
      model.config = ParseModelConfig(dir / kConfigFile, config_policy);
    }
    model.policy =
        model.config.ok() ? VersionPolicyFromConfig(*model.config) : model.config.status();
    for (int64_t v : model.versions) {
      const fs::path version_dir = dir / std::to_string(v);
      model.signatures[v] =
          VersionSignature{model.config_signature,
                           ReadSignature(version_dir / kSeqFile, /*hash_content=*/true),
                           ReadSignature(version_dir / kWeightsFile, /*hash_content=*/false)};
    }
  } catch (const std::exception& e) {
    model.versions.clear();
    model.signatures.clear();
    model.config = absl::InternalError(
        absl::StrCat("cannot read the model directory ", dir.string(), ": ", e.what()));
    model.policy = model.config.status();
  }
  return model;
}

}  // namespace seqserve
