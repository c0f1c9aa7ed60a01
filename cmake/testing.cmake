#  project_add_test(name [SOURCES f.c ..] [LIBS t ..] [LABEL unit|integration|e2e]
#                   [TIMEOUT s])
#
#  One cmocka executable per test file, registered with CTest under its own
#  name, with a timeout and a label. SOURCES defaults to <name>.c beside the
#  calling CMakeLists.txt (nng's one-line registration).
function(project_add_test name)
    cmake_parse_arguments(T "" "LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
    if(NOT T_SOURCES)
        set(T_SOURCES ${name}.c)
    endif()
    if(NOT T_LABEL)
        set(T_LABEL unit)
    endif()
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 60)
    endif()
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA project_warnings)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS ${T_LABEL})
endfunction()
