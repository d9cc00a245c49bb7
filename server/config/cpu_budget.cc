#include "server/config/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::vector<std::string> Tokens(std::string_view text) {
  return absl::StrSplit(absl::string_view(text.data(), text.size()), absl::ByAnyChar(" \t\r\n"),
                        absl::SkipEmpty());
}

// ceil(quota / period) in whole CPUs; nullopt unless both are positive.
std::optional<int> QuotaCpus(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  const int64_t cpus = quota / period + (quota % period != 0 ? 1 : 0);
  return static_cast<int>(std::min<int64_t>(cpus, 1 << 20));
}

std::optional<int> Min(std::optional<int> a, std::optional<int> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// Where one cgroup hierarchy is mounted: `mount_point` (already under the test root)
// shows the hierarchy's directory `mount_root`.
struct CgroupMount {
  fs::path mount_point;
  std::string mount_root = "/";
};

struct CgroupMounts {
  std::optional<CgroupMount> v2;
  std::optional<CgroupMount> v1_cpu;  // the v1 hierarchy holding the `cpu` controller
};

bool HasElement(std::string_view comma_list, std::string_view element) {
  for (absl::string_view item :
       absl::StrSplit(absl::string_view(comma_list.data(), comma_list.size()), ',')) {
    if (item == absl::string_view(element.data(), element.size())) return true;
  }
  return false;
}

// /proc/self/mountinfo lines: "ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTS [OPTIONAL...] -
// FSTYPE SOURCE SUPER_OPTS".
CgroupMounts ParseMountinfo(std::string_view mountinfo, const fs::path& root) {
  CgroupMounts mounts;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(mountinfo.data(), mountinfo.size()), '\n')) {
    std::vector<std::string> fields = Tokens(std::string_view(line.data(), line.size()));
    // Six fixed fields, optional ones, then the "-" separator.
    auto dash = std::find(fields.begin() + std::min<size_t>(fields.size(), 6), fields.end(), "-");
    if (dash == fields.end() || fields.end() - dash < 2) continue;
    const std::string& fstype = *(dash + 1);
    const std::string super_options = fields.end() - dash >= 4 ? *(dash + 3) : "";
    CgroupMount mount{root / fs::path(fields[4]).relative_path(), fields[3]};
    if (fstype == "cgroup2" && !mounts.v2) {
      mounts.v2 = mount;
    } else if (fstype == "cgroup" && !mounts.v1_cpu && HasElement(super_options, "cpu")) {
      mounts.v1_cpu = mount;
    }
  }
  return mounts;
}

// The usual layout when mountinfo cannot be read: v2 at /sys/fs/cgroup, v1's cpu
// controller at /sys/fs/cgroup/cpu (or cpu,cpuacct).
CgroupMounts DefaultMounts(const fs::path& root) {
  CgroupMounts mounts;
  const fs::path base = root / "sys/fs/cgroup";
  mounts.v2 = CgroupMount{base};
  for (const char* name : {"cpu", "cpu,cpuacct", "cpuacct,cpu"}) {
    std::error_code ec;
    if (fs::is_directory(base / name, ec)) {
      mounts.v1_cpu = CgroupMount{base / name};
      break;
    }
  }
  return mounts;
}

// The process's cgroup directory under `mount`, given its path in /proc/self/cgroup. When
// the path lies outside what the mount shows (a container without a cgroup namespace sees
// its own cgroup as the mount's top), the mount point itself is the process's cgroup.
fs::path CgroupDir(const CgroupMount& mount, const std::string& cgroup_path) {
  std::string rel;
  if (mount.mount_root == "/") {
    rel = cgroup_path;
  } else if (cgroup_path == mount.mount_root || cgroup_path.rfind(mount.mount_root + "/", 0) == 0) {
    rel = cgroup_path.substr(mount.mount_root.size());
  }
  if (rel.find("..") != std::string::npos) rel.clear();
  return mount.mount_point / fs::path(rel).relative_path();
}

// Applies `read_limit` to `dir` and each ancestor up to the mount point: a parent's quota
// caps its children too.
fs::path Normal(const fs::path& path) {
  fs::path normal = path.lexically_normal();
  // "/a/b/" names the same directory as "/a/b"; compare without the trailing separator.
  if (!normal.has_filename() && normal.has_relative_path()) normal = normal.parent_path();
  return normal;
}

template <typename ReadLimit>
std::optional<int> TightestUpTo(const fs::path& mount_point, fs::path dir, ReadLimit read_limit) {
  std::optional<int> limit;
  const fs::path top = Normal(mount_point);
  dir = Normal(dir);
  while (true) {
    limit = Min(limit, read_limit(dir));
    if (dir == top || !dir.has_relative_path() || dir == dir.parent_path()) break;
    dir = dir.parent_path();
    if (dir.native().size() < top.native().size()) break;
  }
  return limit;
}

}  // namespace

std::optional<int> CpuLimitFromCgroupV2(std::string_view cpu_max) {
  std::vector<std::string> tokens = Tokens(cpu_max);
  if (tokens.empty() || tokens[0] == "max") return std::nullopt;
  int64_t quota = 0;
  int64_t period = 100000;  // the kernel's default when the file holds one number
  if (!absl::SimpleAtoi(tokens[0], &quota)) return std::nullopt;
  if (tokens.size() > 1 && !absl::SimpleAtoi(tokens[1], &period)) return std::nullopt;
  return QuotaCpus(quota, period);
}

std::optional<int> CpuLimitFromCgroupV1(std::string_view cfs_quota_us,
                                        std::string_view cfs_period_us) {
  std::vector<std::string> quota_tokens = Tokens(cfs_quota_us);
  std::vector<std::string> period_tokens = Tokens(cfs_period_us);
  int64_t quota = 0;
  int64_t period = 0;
  if (quota_tokens.empty() || period_tokens.empty() || !absl::SimpleAtoi(quota_tokens[0], &quota) ||
      !absl::SimpleAtoi(period_tokens[0], &period)) {
    return std::nullopt;
  }
  return QuotaCpus(quota, period);  // quota -1: no limit
}

std::optional<int> CgroupCpuLimit(const fs::path& root) {
  std::optional<std::string> self_cgroup = ReadFile(root / "proc/self/cgroup");
  if (!self_cgroup) return std::nullopt;
  std::optional<std::string> mountinfo = ReadFile(root / "proc/self/mountinfo");
  CgroupMounts mounts = mountinfo ? ParseMountinfo(*mountinfo, root) : DefaultMounts(root);

  // /proc/self/cgroup lines: "HIERARCHY:CONTROLLERS:PATH"; v2's is "0::PATH".
  std::optional<int> limit;
  for (absl::string_view line : absl::StrSplit(*self_cgroup, '\n')) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    const std::string path = std::string(absl::StripAsciiWhitespace(parts[2]));
    if (parts[0] == "0" && parts[1].empty() && mounts.v2) {
      limit = Min(limit, TightestUpTo(mounts.v2->mount_point, CgroupDir(*mounts.v2, path),
                                      [](const fs::path& dir) -> std::optional<int> {
                                        std::optional<std::string> max = ReadFile(dir / "cpu.max");
                                        return max ? CpuLimitFromCgroupV2(*max) : std::nullopt;
                                      }));
    } else if (HasElement(parts[1], "cpu") && mounts.v1_cpu) {
      limit = Min(limit, TightestUpTo(mounts.v1_cpu->mount_point, CgroupDir(*mounts.v1_cpu, path),
                                      [](const fs::path& dir) -> std::optional<int> {
                                        std::optional<std::string> quota =
                                            ReadFile(dir / "cpu.cfs_quota_us");
                                        std::optional<std::string> period =
                                            ReadFile(dir / "cpu.cfs_period_us");
                                        if (!quota || !period) return std::nullopt;
                                        return CpuLimitFromCgroupV1(*quota, *period);
                                      }));
    }
  }
  return limit;
}

int AffinityCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  // More CPUs than a static cpu_set_t holds: grow the set until the kernel's mask fits.
  for (int n = 2 * CPU_SETSIZE; errno == EINVAL && n <= (1 << 20); n *= 2) {
    cpu_set_t* dynamic = CPU_ALLOC(n);
    if (dynamic == nullptr) break;
    const size_t bytes = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(bytes, dynamic);
    const bool ok = sched_getaffinity(0, bytes, dynamic) == 0;
    const int count = ok ? CPU_COUNT_S(bytes, dynamic) : 0;
    CPU_FREE(dynamic);
    if (ok) return std::max(1, count);
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int MaxModelThreads(int available_cpus) {
  return std::max(1, available_cpus) * kModelThreadsPerCpu;
}

int DefaultMaxWorkerThreads(int available_cpus) {
  return std::max(kMinServerThreads, std::max(1, available_cpus) * kServerThreadsPerCpu);
}

int AvailableCpus() {
  int cpus = AffinityCpus();
  if (std::optional<int> quota = CgroupCpuLimit("/")) cpus = std::min(cpus, *quota);
  return std::max(1, cpus);
}

}  // namespace seqserve
