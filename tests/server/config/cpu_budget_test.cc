// The CPU budget: cgroup v1/v2 quota parsing on fake file contents, the cgroup lookup on
// fake /proc and /sys trees, and the live value on this machine.
#include "server/config/cpu_budget.h"

#include <sched.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

TEST(CpuLimitFromCgroupV2, RoundsTheQuotaUpToWholeCpus) {
  EXPECT_EQ(CpuLimitFromCgroupV2("150000 100000\n"), 2);
  EXPECT_EQ(CpuLimitFromCgroupV2("200000 100000"), 2);
  EXPECT_EQ(CpuLimitFromCgroupV2("50000 100000"), 1);
  EXPECT_EQ(CpuLimitFromCgroupV2("400000 100000"), 4);
  EXPECT_EQ(CpuLimitFromCgroupV2("300000"), 3);  // period omitted: the kernel's 100000
}

TEST(CpuLimitFromCgroupV2, MaxMeansUnlimited) {
  EXPECT_EQ(CpuLimitFromCgroupV2("max 100000\n"), std::nullopt);
  EXPECT_EQ(CpuLimitFromCgroupV2("max"), std::nullopt);
}

TEST(CpuLimitFromCgroupV2, GarbageMeansUnknown) {
  EXPECT_EQ(CpuLimitFromCgroupV2(""), std::nullopt);
  EXPECT_EQ(CpuLimitFromCgroupV2("lots 100000"), std::nullopt);
  EXPECT_EQ(CpuLimitFromCgroupV2("100000 zero"), std::nullopt);
  EXPECT_EQ(CpuLimitFromCgroupV2("100000 0"), std::nullopt);
}

TEST(CpuLimitFromCgroupV1, RoundsTheQuotaUpToWholeCpus) {
  EXPECT_EQ(CpuLimitFromCgroupV1("150000\n", "100000\n"), 2);
  EXPECT_EQ(CpuLimitFromCgroupV1("100000", "100000"), 1);
  EXPECT_EQ(CpuLimitFromCgroupV1("25000", "50000"), 1);
}

TEST(CpuLimitFromCgroupV1, MinusOneMeansUnlimited) {
  EXPECT_EQ(CpuLimitFromCgroupV1("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(CpuLimitFromCgroupV1("", "100000"), std::nullopt);
  EXPECT_EQ(CpuLimitFromCgroupV1("100000", "x"), std::nullopt);
}

// A fake filesystem root for CgroupCpuLimit.
class FakeRoot {
 public:
  explicit FakeRoot(const std::string& name) : root_(fs::path(::testing::TempDir()) / name) {
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  ~FakeRoot() { fs::remove_all(root_); }

  void Write(const std::string& relative, const std::string& contents) {
    const fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << contents;
  }
  const fs::path& path() const { return root_; }

 private:
  fs::path root_;
};

TEST(CgroupCpuLimit, ReadsCgroupV2AtTheUsualMount) {
  FakeRoot root("cgroup_v2_default");
  root.Write("proc/self/cgroup", "0::/\n");
  root.Write("sys/fs/cgroup/cpu.max", "150000 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root.path()), 2);
}

TEST(CgroupCpuLimit, UnlimitedV2IsNoLimit) {
  FakeRoot root("cgroup_v2_max");
  root.Write("proc/self/cgroup", "0::/\n");
  root.Write("sys/fs/cgroup/cpu.max", "max 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root.path()), std::nullopt);
}

TEST(CgroupCpuLimit, TakesTheTightestQuotaAlongTheV2Path) {
  FakeRoot root("cgroup_v2_nested");
  root.Write("proc/self/cgroup", "0::/kubepods/pod1/app\n");
  root.Write("proc/self/mountinfo",
             "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n");
  root.Write("sys/fs/cgroup/kubepods/cpu.max", "800000 100000\n");
  root.Write("sys/fs/cgroup/kubepods/pod1/cpu.max", "250000 100000\n");
  root.Write("sys/fs/cgroup/kubepods/pod1/app/cpu.max", "max 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root.path()), 3);
}

TEST(CgroupCpuLimit, ReadsCgroupV1CpuController) {
  FakeRoot root("cgroup_v1");
  root.Write("proc/self/cgroup",
             "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n2:cpuset:/docker/abc\n");
  root.Write("proc/self/mountinfo",
             "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup "
             "rw,cpu,cpuacct\n"
             "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n");
  root.Write("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
  root.Write("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CgroupCpuLimit(root.path()), 1);
}

TEST(CgroupCpuLimit, UnlimitedV1IsNoLimit) {
  FakeRoot root("cgroup_v1_unlimited");
  root.Write("proc/self/cgroup", "1:cpu:/\n0::/\n");
  root.Write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n");
  root.Write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CgroupCpuLimit(root.path()), std::nullopt);
}

TEST(CgroupCpuLimit, ContainerWithoutCgroupNamespaceSeesItsCgroupAtTheMountTop) {
  // /proc/self/cgroup names the host's path, but the mount shows only the container's own
  // cgroup (mountinfo's root field says which).
  FakeRoot root("cgroup_v1_container");
  root.Write("proc/self/cgroup", "5:cpu,cpuacct:/docker/abc\n");
  root.Write("proc/self/mountinfo",
             "40 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,relatime - cgroup cgroup "
             "rw,cpu,cpuacct\n");
  root.Write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "300000\n");
  root.Write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CgroupCpuLimit(root.path()), 3);
}

TEST(CgroupCpuLimit, HybridHierarchyTakesTheTighterOfBoth) {
  FakeRoot root("cgroup_hybrid");
  root.Write("proc/self/cgroup", "2:cpu:/\n0::/\n");
  root.Write("proc/self/mountinfo",
             "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
             "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
  root.Write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "400000\n");
  root.Write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  root.Write("sys/fs/cgroup/unified/cpu.max", "200000 100000\n");
  EXPECT_EQ(CgroupCpuLimit(root.path()), 2);
}

TEST(CgroupCpuLimit, NoCgroupInformationIsNoLimit) {
  FakeRoot root("cgroup_none");
  EXPECT_EQ(CgroupCpuLimit(root.path()), std::nullopt);
  root.Write("proc/self/cgroup", "0::/\n");  // cgroup v2 without a cpu.max anywhere
  EXPECT_EQ(CgroupCpuLimit(root.path()), std::nullopt);
}

TEST(AvailableCpus, IsWithinTheAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(AffinityCpus(), CPU_COUNT(&set));
  const int available = AvailableCpus();
  EXPECT_GE(available, 1);
  EXPECT_LE(available, AffinityCpus());
  if (std::optional<int> quota = CgroupCpuLimit("/")) {
    EXPECT_LE(available, *quota);
  }
}

}  // namespace
}  // namespace seqserve
