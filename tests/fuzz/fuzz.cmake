# tests/fuzz/fuzz.cmake — the fuzz harnesses listed in tests/fuzz/harnesses.txt.
#
# Every build makes each harness a plain program (with replay_main.c) and a
# ctest `fuzz_NAME` that runs it once over its seeds (fixtures), its committed
# corpus (tests/fuzz/corpus/NAME) and every saved crash (tests/fuzz/crashes/NAME):
# fast and deterministic, with gcc as well, so a fixed crash stays fixed.
# With -DSEAL_FUZZ=ON (clang; `make fuzz`), the harnesses are libFuzzer
# programs instead, and scripts/fuzz.sh runs them. A harness marked `manual`
# (NAME ROOM manual: SEEDS) replays its seeds and corpus only, and `make fuzz`
# runs it only when FUZZ_TARGETS names it (docs/testing.md).
file(STRINGS ${CMAKE_SOURCE_DIR}/tests/fuzz/harnesses.txt fuzz_lines REGEX "^[a-z0-9_]+ ")
set(SEAL_FUZZ_TARGETS "")
foreach(line ${fuzz_lines})
  string(REGEX MATCH "^([a-z0-9_]+) ([a-z0-9_]+)( manual)?:[ ]*(.*)$" ok "${line}")
  if(NOT ok)
    message(FATAL_ERROR "tests/fuzz/harnesses.txt: cannot read '${line}'")
  endif()
  set(name ${CMAKE_MATCH_1})
  set(room ${CMAKE_MATCH_2})
  set(manual "${CMAKE_MATCH_3}")
  string(REPLACE " " ";" globs "${CMAKE_MATCH_4}")
  set(seeds "")
  foreach(g ${globs})
    file(GLOB found CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${g})
    list(APPEND seeds ${found})
  endforeach()
  set(srcs ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${name}.c ${CMAKE_SOURCE_DIR}/tests/fuzz/harness.c)
  if(SEAL_FUZZ)
    add_executable(fuzz_${name} ${srcs})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(fuzz_${name} ${srcs} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
  endif()
  target_include_directories(fuzz_${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/fuzz)
  string(REGEX REPLACE "^seal_" "" room_dir ${room})
  seal_room_includes(fuzz_${name} ${room_dir}) # a harness sees what its room sees
  target_compile_definitions(fuzz_${name} PRIVATE SEAL_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  target_link_libraries(fuzz_${name} PRIVATE ${room})
  list(APPEND SEAL_FUZZ_TARGETS fuzz_${name})
  if(NOT SEAL_FUZZ)
    # A manual harness's crashes are a library's, not committed: seeds and corpus only.
    set(crashes ${CMAKE_SOURCE_DIR}/tests/fuzz/crashes/${name})
    if(manual)
      set(crashes "")
    endif()
    add_test(NAME fuzz_${name}
             COMMAND fuzz_${name} ${seeds} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name} ${crashes}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(fuzz_${name} PROPERTIES ENVIRONMENT "${SEAL_TEST_ENV}" LABELS fuzz)
  endif()
endforeach()
add_custom_target(seal_fuzz_all DEPENDS ${SEAL_FUZZ_TARGETS})
