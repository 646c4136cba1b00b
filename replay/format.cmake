# ftvm_replay_format and its tests and fuzz targets. See docs/trace-format.md.

set(FTVM_REPLAY_FORMAT_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/src/byte_io.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/chunk.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/entry_codec.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/file_io.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/landmark_choice.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/trace_entry.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/trace_files.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/trace_header.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/trace_report.cpp
)
set(FTVM_REPLAY_FUZZ_BODY_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_chunk.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_header.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_seeds.cpp
)

# The library is defined by a function so the fuzz build can compile it a second time with
# coverage instrumentation, leaving the normal library (and everything linking it) alone.
function(ftvm_replay_format_library name)
  add_library(${name} STATIC ${FTVM_REPLAY_FORMAT_SOURCES})
  # Only vmm's headers (result.h, unique_fd.h): the codec must not depend on KVM code.
  target_include_directories(${name} PUBLIC include ${CMAKE_SOURCE_DIR}/vmm/include)
  target_compile_options(${name} PRIVATE ${FTVM_HOST_WARNINGS})
  target_link_libraries(${name}
    PUBLIC nlohmann_json::nlohmann_json
    PRIVATE fmt::fmt PkgConfig::XXHASH)
endfunction()

function(ftvm_replay_fuzz_bodies_library name format_library)
  add_library(${name} STATIC ${FTVM_REPLAY_FUZZ_BODY_SOURCES})
  target_include_directories(${name} PUBLIC fuzz)
  target_compile_options(${name} PRIVATE ${FTVM_HOST_WARNINGS})
  target_link_libraries(${name} PUBLIC ${format_library} PRIVATE PkgConfig::XXHASH)
endfunction()

ftvm_replay_format_library(ftvm_replay_format)
ftvm_replay_fuzz_bodies_library(ftvm_replay_fuzz_bodies ftvm_replay_format)

ftvm_add_test(NAME ftvm_replay_format_tests LABEL unit
  SOURCES
    tests/chunk_test.cpp
    tests/entry_codec_test.cpp
    tests/fuzz_corpus_test.cpp
    tests/landmark_choice_test.cpp
    tests/trace_files_test.cpp
    tests/trace_header_test.cpp
    tests/trace_report_test.cpp
  LIBS ftvm_replay_format ftvm_replay_fuzz_bodies fmt::fmt PkgConfig::XXHASH)

if(FTVM_FUZZ)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    set(FTVM_FUZZ_INSTRUMENT -fsanitize=fuzzer-no-link,address,undefined)
    ftvm_replay_format_library(ftvm_replay_format_fuzzing)
    ftvm_replay_fuzz_bodies_library(ftvm_replay_fuzz_bodies_fuzzing ftvm_replay_format_fuzzing)
    foreach(lib ftvm_replay_format_fuzzing ftvm_replay_fuzz_bodies_fuzzing)
      target_compile_options(${lib} PRIVATE ${FTVM_FUZZ_INSTRUMENT})
    endforeach()
    foreach(fuzzer chunk header)
      add_executable(ftvm_replay_${fuzzer}_fuzzer fuzz/${fuzzer}_fuzzer.cpp)
      target_compile_options(ftvm_replay_${fuzzer}_fuzzer PRIVATE ${FTVM_HOST_WARNINGS}
        -fsanitize=fuzzer,address,undefined)
      target_link_options(ftvm_replay_${fuzzer}_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
      target_link_libraries(ftvm_replay_${fuzzer}_fuzzer PRIVATE ftvm_replay_fuzz_bodies_fuzzing)
    endforeach()
    add_executable(ftvm_replay_fuzz_seeds fuzz/write_seeds.cpp)
    target_compile_options(ftvm_replay_fuzz_seeds PRIVATE ${FTVM_HOST_WARNINGS})
    target_link_libraries(ftvm_replay_fuzz_seeds PRIVATE ftvm_replay_fuzz_bodies)
  else()
    message(WARNING "FTVM_FUZZ needs clang (libFuzzer); not building replay fuzz targets. "
                    "The fuzz bodies still run in ftvm_replay_format_tests.")
  endif()
endif()
