# ftvm_channel_links: the two ends of a running channel (threads, failure detection), on top of
# the frame codec and the replay library's LogFeed.
add_library(ftvm_channel_links STATIC
  src/peer_monitor.cpp
  src/primary_link.cpp
  src/backup_link.cpp
  src/console_splicer.cpp
  src/cutover_console.cpp
  src/receive_message.cpp
  src/handshake.cpp
  src/link_thread_priority.cpp
)
target_include_directories(ftvm_channel_links PUBLIC include)
target_compile_options(ftvm_channel_links PRIVATE ${FTVM_HOST_WARNINGS})
target_link_libraries(ftvm_channel_links PUBLIC ftvm_channel ftvm_replay PRIVATE fmt::fmt OpenSSL::Crypto)

ftvm_add_test(NAME ftvm_channel_links_tests LABEL unit
  SOURCES
    tests/peer_monitor_test.cpp
    tests/console_splicer_test.cpp
    tests/cutover_console_test.cpp
    tests/links_test.cpp
    tests/handshake_test.cpp
    tests/link_thread_priority_test.cpp
  LIBS ftvm_channel_links)
