add_library(ftvm_replay STATIC
  src/fingerprint.cpp
  src/log_feed.cpp
  src/logged_disk.cpp
  src/memory_discriminator.cpp
  src/recorder.cpp
  src/recording_time_source.cpp
  src/replay_time_source.cpp
  src/replayer.cpp
)
target_include_directories(ftvm_replay PUBLIC include)
target_compile_options(ftvm_replay PRIVATE ${FTVM_HOST_WARNINGS})
target_link_libraries(ftvm_replay PUBLIC ftvm_replay_format ftvm_vmm PkgConfig::XXHASH
  PRIVATE PkgConfig::CAPSTONE)

# The engine's parts that need no VM.
ftvm_add_test(NAME ftvm_replay_engine_tests LABEL unit
  SOURCES tests/logged_disk_test.cpp tests/memory_discriminator_test.cpp
    tests/replay_time_source_test.cpp
  LIBS ftvm_replay)
