# Small helpers in the spirit of abseil's absl_cc_library / absl_cc_test.

# Warnings every compiler understands, then each compiler's own: GCC rejects
# clang's flags and clang rejects GCC's, so they never share a list.
set(WIREHUB_WARNINGS -Wall -Wextra -Wpedantic -Wno-unused-parameter
    -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND WIREHUB_WARNINGS -Wshadow=local)
elseif(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  # Checks the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations,
  # which GCC parses and ignores.
  list(APPEND WIREHUB_WARNINGS -Wthread-safety)
endif()
if(WIREHUB_WERROR)
  list(APPEND WIREHUB_WARNINGS -Werror)
endif()

# Sanitizers apply to every target, so the libraries the tests and fuzzers
# link are instrumented too. A report aborts the process
# (-fno-sanitize-recover=all): UBSan's would otherwise print and continue, and
# a test would pass anyway.
if(WIREHUB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()
if(WIREHUB_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "WIREHUB_FUZZ needs clang (libFuzzer): configure with "
                        "-DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14")
  endif()
  # Coverage instrumentation for libFuzzer everywhere; only the fuzz targets
  # link libFuzzer itself (-fsanitize=fuzzer, see fuzz/CMakeLists.txt), so
  # the servers and tests of the same build run as usual.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# wirehub_cc_library(NAME name SRCS ... DEPS ...)
# Defines wirehub_<name> with alias wirehub::<name>.
function(wirehub_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(wirehub_${ARG_NAME} STATIC ${ARG_SRCS})
  add_library(wirehub::${ARG_NAME} ALIAS wirehub_${ARG_NAME})
  target_include_directories(wirehub_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR}
                             ${PROJECT_BINARY_DIR}/proto)
  target_compile_options(wirehub_${ARG_NAME} PRIVATE ${WIREHUB_WARNINGS})
  target_link_libraries(wirehub_${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()

# wirehub_cc_test(NAME name SRCS ... DEPS ...)
# A GoogleTest binary registered with ctest, one ctest entry per test case;
# with WIREHUB_SANITIZE one entry per binary, since an instrumented process
# takes longer to start (about 0.4 s) than most test cases take to run.
function(wirehub_cc_test)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY
                        ${CMAKE_BINARY_DIR}/tests)
  target_compile_options(${ARG_NAME} PRIVATE ${WIREHUB_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  if(WIREHUB_SANITIZE)
    add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
    set_tests_properties(${ARG_NAME} PROPERTIES TIMEOUT 300 LABELS unit)
  else()
    gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 30 PROPERTIES TIMEOUT 60 LABELS unit)
  endif()
endfunction()
