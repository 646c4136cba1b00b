// The host probe's parts that need no KVM: which KVM modules are loaded, the CPU's name, and
// what a missing device makes of the verdict.
#include "vmm/host_info.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "subprocess.h"

namespace ftvm {
namespace {

using ::ftvm::testing::TempDir;

TEST(HostInfo, FindsTheKvmModulesAmongTheLoadedOnes) {
  TempDir sys;
  for (const char* module : {"kvm", "kvm_amd", "irqbypass", "kvm_pvm"}) {
    std::filesystem::create_directories(sys.path(module));
  }
  EXPECT_EQ(loaded_kvm_modules(sys.path("")), (std::vector<std::string>{"kvm_amd", "kvm_pvm"}));
  EXPECT_TRUE(loaded_kvm_modules(sys.path("nonexistent")).empty());
}

TEST(HostInfo, ReadsTheFirstModelName) {
  EXPECT_EQ(cpu_model_name("processor\t: 0\nvendor_id\t: AuthenticAMD\n"
                           "model name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n"),
            "AMD EPYC 7B13");
  EXPECT_EQ(cpu_model_name("processor\t: 0\n"), "");
  EXPECT_EQ(cpu_model_name("model name\t:\n"), "");
}

TEST(HostInfo, AMissingDeviceIsNotUsableAndSaysWhy) {
  TempDir dir;
  HostPaths paths;
  paths.kvm_device = dir.path("kvm");
  paths.sys_module = dir.path("sys");
  paths.cpuinfo = dir.path("cpuinfo");
  std::ofstream(paths.cpuinfo) << "model name\t: Test CPU\n";
  const HostInfo info = probe_host(paths);
  EXPECT_FALSE(info.kvm_usable);
  EXPECT_EQ(info.backend, "emu");
  EXPECT_NE(info.kvm_problem.find("does not exist"), std::string::npos) << info.kvm_problem;
  EXPECT_EQ(info.cpu_model, "Test CPU");
  EXPECT_TRUE(info.kvm_modules.empty());
  EXPECT_TRUE(info.capabilities.empty());
}

}  // namespace
}  // namespace ftvm
