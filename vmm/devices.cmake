add_library(ftvm_devices STATIC
  src/bus.cpp
  src/devices/byte_io_device.cpp
  src/devices/cmos_rtc.cpp
  src/devices/pic8259.cpp
  src/devices/pit8254.cpp
  src/devices/shutdown_port.cpp
  src/devices/time_source.cpp
  src/devices/uart16550.cpp
  src/devices/virtio_blk.cpp
  src/devices/virtio_mmio.cpp
  src/devices/virtio_net.cpp
  src/devices/virtqueue.cpp
  src/guest_memory.cpp
  src/host_write_log.cpp
  src/page_bitmap.cpp
)
target_include_directories(ftvm_devices PUBLIC include)
target_compile_options(ftvm_devices PRIVATE ${FTVM_HOST_WARNINGS})
target_link_libraries(ftvm_devices PUBLIC fmt::fmt testsvc_abi)

ftvm_add_test(NAME ftvm_devices_tests LABEL unit
  SOURCES
    tests/devices/bus_test.cpp
    tests/devices/cmos_rtc_test.cpp
    tests/devices/pic8259_test.cpp
    tests/devices/pit8254_test.cpp
    tests/devices/shutdown_port_test.cpp
    tests/devices/time_source_test.cpp
    tests/devices/uart16550_test.cpp
    tests/devices/virtio_blk_test.cpp
    tests/devices/virtio_mmio_test.cpp
    tests/devices/virtio_net_test.cpp
    tests/devices/virtqueue_test.cpp
    tests/devices/virtqueue_fuzz_test.cpp
    tests/devices/virtio_net_fuzz_test.cpp
    fuzz/virtqueue_fuzz.cpp
    fuzz/virtio_net_fuzz.cpp
  LIBS ftvm_devices
)
target_include_directories(ftvm_devices_tests PRIVATE fuzz)

if(FTVM_FUZZ AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  add_executable(ftvm_virtqueue_fuzzer fuzz/virtqueue_fuzzer.cpp fuzz/virtqueue_fuzz.cpp
    src/devices/virtqueue.cpp src/guest_memory.cpp)
  target_include_directories(ftvm_virtqueue_fuzzer PRIVATE include fuzz)
  target_compile_options(ftvm_virtqueue_fuzzer PRIVATE ${FTVM_HOST_WARNINGS}
    -fsanitize=fuzzer,address,undefined)
  target_link_options(ftvm_virtqueue_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(ftvm_virtqueue_fuzzer PRIVATE fmt::fmt)

  add_executable(ftvm_virtio_net_fuzzer fuzz/virtio_net_fuzzer.cpp fuzz/virtio_net_fuzz.cpp
    src/devices/virtio_net.cpp src/devices/virtio_mmio.cpp src/devices/virtqueue.cpp
    src/guest_memory.cpp)
  target_include_directories(ftvm_virtio_net_fuzzer PRIVATE include fuzz)
  target_compile_options(ftvm_virtio_net_fuzzer PRIVATE ${FTVM_HOST_WARNINGS}
    -fsanitize=fuzzer,address,undefined)
  target_link_options(ftvm_virtio_net_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(ftvm_virtio_net_fuzzer PRIVATE fmt::fmt testsvc_abi)
endif()
