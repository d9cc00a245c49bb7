#include "server/repository/model_dir.h"

#include <algorithm>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace seqserve {

std::vector<int64_t> ListVersions(const std::filesystem::path& model_dir) {
  std::vector<int64_t> versions;
  std::error_code ec;
  // Error codes throughout: an unreadable entry is skipped, never thrown.
  for (std::filesystem::directory_iterator it(model_dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    int64_t v = 0;
    const std::string name = it->path().filename().string();
    std::error_code entry_ec;
    if (it->is_directory(entry_ec) && !name.empty() && name[0] != '0' &&
        name.find_first_not_of("0123456789") == std::string::npos &&
        absl::SimpleAtoi(name, &v) && v > 0) {
      versions.push_back(v);
    }
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

absl::StatusOr<std::filesystem::path> ResolveVersionDir(const std::filesystem::path& dir,
                                                        std::optional<int64_t> version) {
  if (!std::filesystem::is_directory(dir)) {
    return absl::NotFoundError(absl::StrCat(dir.string(), ": no such directory"));
  }
  if (!version && std::filesystem::exists(dir / "model.seq")) return dir;
  std::vector<int64_t> versions = ListVersions(dir);
  if (versions.empty()) {
    return absl::NotFoundError(absl::StrCat(
        dir.string(), ": no model.seq and no version directories (1/, 2/, ...) inside"));
  }
  if (!version) return dir / std::to_string(versions.back());
  if (std::find(versions.begin(), versions.end(), *version) == versions.end()) {
    return absl::NotFoundError(absl::StrCat(dir.string(), ": no version ", *version));
  }
  return dir / std::to_string(*version);
}

}  // namespace seqserve
