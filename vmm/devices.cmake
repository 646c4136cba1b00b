add_library(ftvm_devices STATIC
  src/bus.cpp
)
target_include_directories(ftvm_devices PUBLIC include)
target_compile_options(ftvm_devices PRIVATE ${FTVM_HOST_WARNINGS})
target_link_libraries(ftvm_devices PUBLIC fmt::fmt)
