// How many CPUs this process may really use: the CPUs in its affinity mask (taskset,
// cpuset, `docker --cpuset-cpus`), further capped by the CPU bandwidth quota of its cgroup
// (`docker --cpus`, Kubernetes CPU limits), which the kernel enforces by throttling, not by
// hiding cores — so std::thread::hardware_concurrency() overstates it in a container.
// Worker pools are sized from this so that workers × threads never oversubscribe.
// The parsers take file contents or a root directory so tests can feed fake cgroup trees.
// Thread-safe: functions only read files.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

namespace seqserve {

// min(CPUs in the affinity mask, ceil(cgroup quota)), at least 1.
int AvailableCpus();

// What the CPU budget allows in threads. A model's workers each run intra_op_threads
// OpenMP threads, so a model runs instances × intra_op_threads worker threads:
//  - intra_op_threads at most the CPUs: a wider team only contends with itself;
//  - instances × intra_op_threads at most kModelThreadsPerCpu per CPU: some
//    oversubscription is kept (with a warning) since workers also gather, scatter and
//    wait, but not thousands of threads;
//  - across all models, --max-worker-threads, by default kServerThreadsPerCpu per CPU and
//    at least kMinServerThreads (many small models each sized for the whole machine).
inline constexpr int kModelThreadsPerCpu = 4;
inline constexpr int kServerThreadsPerCpu = 16;
inline constexpr int kMinServerThreads = 64;
int MaxModelThreads(int available_cpus);
int DefaultMaxWorkerThreads(int available_cpus);

// CPUs in this process's affinity mask (sched_getaffinity), at least 1.
int AffinityCpus();

// cgroup v2 `cpu.max` ("$MAX $PERIOD", e.g. "150000 100000" → 2): whole CPUs the quota
// amounts to, rounded up; nullopt for "max" (no limit) or unreadable contents.
std::optional<int> CpuLimitFromCgroupV2(std::string_view cpu_max);

// cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`: as above; nullopt for quota -1
// (no limit) or unreadable contents.
std::optional<int> CpuLimitFromCgroupV1(std::string_view cfs_quota_us,
                                        std::string_view cfs_period_us);

// The tightest CPU quota among this process's cgroup and its ancestors, in whole CPUs;
// nullopt when none is set. Reads `root`/proc/self/cgroup to find the cgroup and
// `root`/proc/self/mountinfo to find where the cgroup filesystems (v2, or v1's `cpu`
// controller) are mounted; without mountinfo it assumes the usual /sys/fs/cgroup layout.
// `root` is "/" in production.
std::optional<int> CgroupCpuLimit(const std::filesystem::path& root);

}  // namespace seqserve
