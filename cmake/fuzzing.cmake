#  ENABLE_FUZZING (clang only) builds the libFuzzer targets. Every target is
#  compiled with libFuzzer's coverage instrumentation plus ASan and UBSan,
#  so the fuzzer sees and checks the libraries it calls, not only its own
#  file; only fuzz targets link the libFuzzer driver (-fsanitize=fuzzer).
#
#  project_add_fuzzer(name SOURCES f.c .. [LIBS t ..] CORPUS dir
#                     [SECONDS s] [TIMEOUT s])
#
#  Builds fuzz target `name` and registers a ctest of the same name (label
#  fuzz) that runs it for SECONDS (default 30) on a scratch copy of the seed
#  corpus CORPUS, so runs never grow the seeds; crash inputs land in
#  ${build}/<dir>/<name>.run/artifacts. Run a target by hand with
#      build/bus/fuzz/bus_decode_fuzz -max_total_time=60 some_dir
#
#  This file is also the runner the test calls (cmake -P, with FUZZER,
#  SEEDS, SCRATCH and SECONDS set).
if(CMAKE_SCRIPT_MODE_FILE)
    file(REMOVE_RECURSE ${SCRATCH})
    file(MAKE_DIRECTORY ${SCRATCH}/corpus ${SCRATCH}/artifacts)
    file(COPY ${SEEDS}/ DESTINATION ${SCRATCH}/corpus)
    execute_process(
        COMMAND ${FUZZER} -max_total_time=${SECONDS} -rss_limit_mb=1024 -timeout=10
                -print_final_stats=1 -artifact_prefix=${SCRATCH}/artifacts/ ${SCRATCH}/corpus
        RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "${FUZZER} failed (${result}); inputs in ${SCRATCH}/artifacts")
    endif()
    return()
endif()

option(ENABLE_FUZZING "Build the libFuzzer targets, everything with coverage, ASan and UBSan (clang)" OFF)
if(ENABLE_FUZZING)
    if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "ENABLE_FUZZING needs clang (found ${CMAKE_C_COMPILER_ID}): "
                            "configure a fresh build directory with CC=clang")
    endif()
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
    #  Every fuzz target, and what it links: what scripts/test.sh builds in build-fuzz.
    add_custom_target(fuzzers)
endif()

function(project_add_fuzzer name)
    cmake_parse_arguments(F "" "CORPUS;SECONDS;TIMEOUT" "SOURCES;LIBS" ${ARGN})
    if(NOT F_SECONDS)
        set(F_SECONDS 30)
    endif()
    if(NOT F_TIMEOUT)
        set(F_TIMEOUT 120)
    endif()
    add_executable(${name} ${F_SOURCES})
    target_link_libraries(${name} PRIVATE ${F_LIBS} project_warnings)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    add_dependencies(fuzzers ${name})
    add_test(NAME ${name}
        COMMAND ${CMAKE_COMMAND} -DFUZZER=$<TARGET_FILE:${name}> -DSEEDS=${F_CORPUS}
                -DSCRATCH=${CMAKE_CURRENT_BINARY_DIR}/${name}.run -DSECONDS=${F_SECONDS}
                -P ${PROJECT_SOURCE_DIR}/cmake/fuzzing.cmake)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${F_TIMEOUT} LABELS fuzz)
endfunction()
