#  project_check_headers(target include_dir h1 h2 ..)
#
#  Compiles each public header on its own (STYLE rule 17), so a header that
#  forgets an include fails the build rather than a distant user.
function(project_check_headers target incdir)
    set(sources)
    foreach(h ${ARGN})
        get_filename_component(stem ${h} NAME_WE)
        set(src ${CMAKE_CURRENT_BINARY_DIR}/headercheck/${stem}_check.c)
        file(WRITE ${src}.tmp "#include \"${h}\"\nint ${stem}_check_dummy(void);\nint\n${stem}_check_dummy(void)\n{\n    return 0;\n}\n")
        configure_file(${src}.tmp ${src} COPYONLY)
        list(APPEND sources ${src})
    endforeach()
    add_library(${target}_headercheck OBJECT ${sources})
    target_include_directories(${target}_headercheck PRIVATE ${incdir})
    target_link_libraries(${target}_headercheck PRIVATE ${target} project_warnings)
endfunction()
