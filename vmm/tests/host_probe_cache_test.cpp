// The host probe's cache per boot: what is kept, when it is used, and that a bad or foreign
// file is probed over, never believed. The probe itself needs /dev/kvm; here it is a stand-in
// that counts its calls.
#include "vmm/host_probe_cache.h"

#include <gtest/gtest.h>

#include <fstream>

#include "subprocess.h"

namespace ftvm {
namespace {

const ProbeCacheKey kKey{"3c5b1f0e-1111-4000-8000-000000000000", "/dev/kvm", 0xa3e8, "kvm,kvm_amd",
                         0xfeed};

GuestDebugFacts sample_facts() {
  GuestDebugFacts facts;
  facts.breakpoint_cpl0 = true;
  facts.single_step_cpl0 = false;
  facts.cpl0_instructions_per_second = 1.25e6;
  facts.breakpoint_cpl3 = false;
  facts.single_step_cpl3 = true;
  facts.cpl3_instructions_per_second = 2.5e9;
  facts.interrupt_window_cpl0 = false;
  facts.interrupt_window_cpl3 = true;
  facts.resume_flag_cpl0 = true;
  facts.resume_flag_cpl3 = false;
  facts.notes = "single step reported nothing";
  return facts;
}

TEST(ProbeCacheCodec, RoundTrips) {
  auto decoded = decode_probe_cache(encode_probe_cache(kKey, sample_facts()), kKey);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->breakpoint_cpl0);
  EXPECT_FALSE(decoded->single_step_cpl0);
  EXPECT_DOUBLE_EQ(decoded->cpl0_instructions_per_second, 1.25e6);
  EXPECT_FALSE(decoded->breakpoint_cpl3);
  EXPECT_TRUE(decoded->single_step_cpl3);
  EXPECT_DOUBLE_EQ(decoded->cpl3_instructions_per_second, 2.5e9);
  EXPECT_FALSE(decoded->interrupt_window_cpl0);
  EXPECT_TRUE(decoded->interrupt_window_cpl3);
  EXPECT_TRUE(decoded->resume_flag_cpl0);
  EXPECT_FALSE(decoded->resume_flag_cpl3);
  EXPECT_EQ(decoded->notes, "single step reported nothing");
}

TEST(ProbeCacheCodec, AnotherBootDeviceModuleSetOrProbeIsAMiss) {
  const std::string kept = encode_probe_cache(kKey, sample_facts());
  ProbeCacheKey other = kKey;
  other.boot_id = "another boot";
  EXPECT_FALSE(decode_probe_cache(kept, other));
  other = kKey;
  other.device_number = 1;
  EXPECT_FALSE(decode_probe_cache(kept, other));
  other = kKey;
  other.kvm_modules = "kvm,kvm_intel";  // the module was swapped within the boot
  EXPECT_FALSE(decode_probe_cache(kept, other));
  other = kKey;
  other.probe_image_xxh3 = 1;  // a new ftvm with another probe guest
  EXPECT_FALSE(decode_probe_cache(kept, other));
}

TEST(ProbeCacheCodec, DamagedFilesAreAMiss) {
  const std::string kept = encode_probe_cache(kKey, sample_facts());
  for (const std::string& bad :
       {std::string(), std::string("not json"), kept.substr(0, kept.size() / 2), std::string("[]"),
        std::string(R"({"format": 4})"), std::string(R"({"format": 4, "key": {}, "facts": {}})"),
        // Found by the fuzzer: json::value() threw on a format that is not a number.
        std::string(R"({"format":  {"boot_id": "3c,b1f0e-v/kv"}})")}) {
    EXPECT_FALSE(decode_probe_cache(bad, kKey)) << bad;
  }
  std::string negative = kept;
  negative.replace(negative.find("1250000"), 7, "-125000");
  EXPECT_FALSE(decode_probe_cache(negative, kKey));
  // A file from before the RF checks (format 3, without them) is probed over.
  std::string old_format = kept;
  old_format.replace(old_format.find("\"format\": 4"), 11, "\"format\": 3");
  EXPECT_FALSE(decode_probe_cache(old_format, kKey));
  for (const char* field : {"breakpoint_cpl3", "interrupt_window_cpl0", "resume_flag_cpl3"}) {
    std::string without = kept;
    without.replace(without.find(field), 5, "XXXXX");
    EXPECT_FALSE(decode_probe_cache(without, kKey)) << field;
  }
}

class CachedFactsTest : public ::testing::Test {
 protected:
  testing::TempDir dir_{"ftvm-probe-cache"};
  int probes_ = 0;
  std::function<Result<GuestDebugFacts>()> probe_ = [this]() -> Result<GuestDebugFacts> {
    ++probes_;
    return sample_facts();
  };
};

TEST_F(CachedFactsTest, TheFirstCallProbesAndTheNextReadTheFile) {
  const std::filesystem::path file = dir_.path("cache/host-probe.json");
  auto first = cached_facts(kKey, file, false, probe_);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_FALSE(first->from_cache);
  EXPECT_EQ(first->path, file.string());
  auto second = cached_facts(kKey, file, false, probe_);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->from_cache);
  EXPECT_EQ(second->facts.notes, sample_facts().notes);
  EXPECT_EQ(probes_, 1);
}

TEST_F(CachedFactsTest, ReprobeMeasuresAgainAndAnotherKeyToo) {
  const std::filesystem::path file = dir_.path("host-probe.json");
  ASSERT_TRUE(cached_facts(kKey, file, false, probe_).ok());
  auto again = cached_facts(kKey, file, true, probe_);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->from_cache);
  ProbeCacheKey next_boot = kKey;
  next_boot.boot_id = "next boot";
  auto next = cached_facts(next_boot, file, false, probe_);
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->from_cache);
  EXPECT_EQ(probes_, 3);
}

TEST_F(CachedFactsTest, ADamagedFileIsProbedOverAndRewritten) {
  const std::filesystem::path file = dir_.path("host-probe.json");
  std::ofstream(file) << "{garbage";
  auto facts = cached_facts(kKey, file, false, probe_);
  ASSERT_TRUE(facts.ok());
  EXPECT_FALSE(facts->from_cache);
  EXPECT_TRUE(cached_facts(kKey, file, false, probe_)->from_cache);
  EXPECT_EQ(probes_, 1);
}

TEST_F(CachedFactsTest, WhereNothingCanBeWrittenEveryCallProbes) {
  const std::filesystem::path file = "/proc/ftvm-cannot-be-here/host-probe.json";
  ASSERT_TRUE(cached_facts(kKey, file, false, probe_).ok());
  ASSERT_TRUE(cached_facts(kKey, file, false, probe_).ok());
  EXPECT_EQ(probes_, 2);
}

TEST_F(CachedFactsTest, AFailedProbeIsAnErrorAndNothingIsKept) {
  const std::filesystem::path file = dir_.path("host-probe.json");
  auto failed = cached_facts(kKey, file, false,
                             []() -> Result<GuestDebugFacts> { return make_error("no VM"); });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "no VM");
  EXPECT_FALSE(std::filesystem::exists(file));
}

}  // namespace
}  // namespace ftvm
