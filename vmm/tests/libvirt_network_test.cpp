// The libvirt client against libvirt's in-process test driver (test:///default): the spec's
// syntax, and the errors a user meets. The real daemon, ports and filter bindings are the e2e
// test's (tests/e2e/libvirt_test.cpp): the test driver does not implement network ports.
#include "vmm/libvirt_network.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

namespace ftvm {
namespace {

using ::testing::HasSubstr;

constexpr const char* kTestDriver = "test:///default";
constexpr std::array<uint8_t, 6> kMac = {0x02, 0x46, 0x54, 0x56, 0x4d, 0x01};

TEST(LibvirtNetSpec, NetworkAlone) {
  auto spec = parse_libvirt_net_spec("default");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->network, "default");
  EXPECT_EQ(spec->filter, "");
  EXPECT_EQ(spec->uri, "qemu:///system");
}

TEST(LibvirtNetSpec, FilterAndUriInAnyOrder) {
  auto spec = parse_libvirt_net_spec("lab,uri=qemu+ssh://h/system,filter=clean-traffic");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->network, "lab");
  EXPECT_EQ(spec->filter, "clean-traffic");
  EXPECT_EQ(spec->uri, "qemu+ssh://h/system");
}

TEST(LibvirtNetSpec, BadSpecsAreRefusedWithTheSyntax) {
  for (const char* bad : {"", ",filter=x", "lab,filter=", "lab,mtu=9000", "lab,"}) {
    auto spec = parse_libvirt_net_spec(bad);
    ASSERT_FALSE(spec.ok()) << bad;
    EXPECT_THAT(spec.error().message, HasSubstr("libvirt:")) << bad;
  }
}

TEST(LibvirtPortTest, AMissingNetworkIsNamed) {
  LibvirtNetSpec spec{"no-such-net", "", kTestDriver};
  auto port = LibvirtPort::reserve(spec, kMac, "ftvm-test");
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(port.error().message, HasSubstr("libvirt network no-such-net"));
}

TEST(LibvirtPortTest, ADaemonThatCannotBeReachedIsNamed) {
  LibvirtNetSpec spec{"default", "", "qemu+unix:///system?socket=/nonexistent/libvirt-sock"};
  auto port = LibvirtPort::reserve(spec, kMac, "ftvm-test");
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(port.error().message, HasSubstr("cannot connect to libvirt"));
}

// The test driver has networks but no ports: libvirt's own reason comes through.
TEST(LibvirtPortTest, ADriverWithoutPortsSaysSo) {
  LibvirtNetSpec spec{"default", "", kTestDriver};
  auto port = LibvirtPort::reserve(spec, kMac, "ftvm-test");
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(port.error().message, HasSubstr("cannot reserve a port on libvirt network default"));
  EXPECT_THAT(port.error().message, HasSubstr("not supported"));
}

TEST(LibvirtVolumeTest, AVolumeResolvesToItsPath) {
  virConnectPtr connection = virConnectOpen(kTestDriver);
  ASSERT_NE(connection, nullptr);
  virStoragePoolPtr pool = virStoragePoolLookupByName(connection, "default-pool");
  ASSERT_NE(pool, nullptr);
  const char* xml =
      "<volume><name>ftvm-unit.img</name><capacity unit='M'>4</capacity>"
      "<target><format type='raw'/></target></volume>";
  virStorageVolPtr volume = virStorageVolCreateXML(pool, xml, 0);
  ASSERT_NE(volume, nullptr);
  char* expected = virStorageVolGetPath(volume);
  ASSERT_NE(expected, nullptr);
  auto path = libvirt_volume_path("default-pool/ftvm-unit.img", kTestDriver);
  ASSERT_TRUE(path.ok()) << path.error().message;
  EXPECT_EQ(*path, expected);
  free(expected);
  virStorageVolDelete(volume, 0);
  virStorageVolFree(volume);
  virStoragePoolFree(pool);
  virConnectClose(connection);
}

TEST(LibvirtVolumeTest, MissingPoolsAndVolumesAreNamed) {
  auto no_pool = libvirt_volume_path("nopool/x.img", kTestDriver);
  ASSERT_FALSE(no_pool.ok());
  EXPECT_THAT(no_pool.error().message, HasSubstr("libvirt storage pool nopool"));
  auto no_volume = libvirt_volume_path("default-pool/absent.img", kTestDriver);
  ASSERT_FALSE(no_volume.ok());
  EXPECT_THAT(no_volume.error().message,
              HasSubstr("libvirt volume absent.img in pool default-pool"));
}

TEST(LibvirtVolumeTest, TheSpecNeedsAPoolAndAVolume) {
  for (const char* bad : {"pool", "/vol", "pool/", ""}) {
    auto path = libvirt_volume_path(bad, kTestDriver);
    ASSERT_FALSE(path.ok()) << bad;
    EXPECT_THAT(path.error().message, HasSubstr("libvirt:POOL/VOLUME")) << bad;
  }
}

}  // namespace
}  // namespace ftvm
