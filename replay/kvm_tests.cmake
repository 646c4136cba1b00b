# kvm-labelled tests of exact record/replay: hand-written guests whose timer interrupts land in
# loops where an asynchronous landmark is hard to find again (tests/kvm/guests/*.S), recorded
# and replayed in-process, in every landmark mode; and streamed, as a backup replays its
# primary's log (with horizons, cut short, paused).

# Flat long-mode programs linked at 1 MiB, like vmm's tiny guests (whose tiny.inc they include).
set(RR_GUEST_DIR ${CMAKE_CURRENT_BINARY_DIR}/rr-guests)
set(RR_GUESTS reg_loop mem_loop sti_hlt mov_ss stack_loop hlt_loop sti_window cold_loop uart_input
  if_toggle)
foreach(guest ${RR_GUESTS})
  add_executable(rr_${guest} tests/kvm/guests/${guest}.S)
  target_compile_options(rr_${guest} PRIVATE -I${CMAKE_CURRENT_SOURCE_DIR}/tests/kvm/guests
    -I${PROJECT_SOURCE_DIR}/vmm/tests/kvm/guests)
  target_link_options(rr_${guest} PRIVATE -nostdlib -static -no-pie -Wl,-Ttext-segment=0x100000
    -Wl,--build-id=none -Wl,-z,noexecstack)
  set_target_properties(rr_${guest} PROPERTIES OUTPUT_NAME ${guest}.elf SUFFIX ""
    RUNTIME_OUTPUT_DIRECTORY ${RR_GUEST_DIR})
  # The assembler does not track .include'd files; rebuild when the shared macros change.
  set_source_files_properties(tests/kvm/guests/${guest}.S PROPERTIES OBJECT_DEPENDS
    "${CMAKE_CURRENT_SOURCE_DIR}/tests/kvm/guests/rr.inc;${PROJECT_SOURCE_DIR}/vmm/tests/kvm/guests/tiny.inc")
  list(APPEND RR_GUEST_TARGETS rr_${guest})
endforeach()

# The in-process record and replay of those guests (record_replay_harness.h), also for the
# pair's tests of a backup brought up by state transfer.
add_library(ftvm_record_replay_harness STATIC tests/kvm/record_replay_harness.cpp)
target_include_directories(ftvm_record_replay_harness PUBLIC tests/kvm)
target_compile_options(ftvm_record_replay_harness PRIVATE ${FTVM_HOST_WARNINGS})
target_link_libraries(ftvm_record_replay_harness PUBLIC ftvm_replay ftvm_kvm_gate GTest::gtest)
add_dependencies(ftvm_record_replay_harness ${RR_GUEST_TARGETS})
target_compile_definitions(ftvm_record_replay_harness PRIVATE FTVM_RR_GUEST_DIR="${RR_GUEST_DIR}")

ftvm_add_test(NAME ftvm_replay_kvm_tests LABEL kvm
  SOURCES
    tests/kvm/landmark_probe_test.cpp
    tests/kvm/record_replay_test.cpp
    tests/kvm/streamed_replay_test.cpp
  LIBS ftvm_record_replay_harness)
target_compile_definitions(ftvm_replay_kvm_tests PRIVATE FTVM_RR_GUEST_DIR="${RR_GUEST_DIR}")
