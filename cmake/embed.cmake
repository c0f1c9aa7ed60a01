#  project_embed_sql(output.c symbol file1.sql file2.sql ..)
#
#  Turns numbered migration files into a C table compiled into the binary,
#  so a service carries its schema with it (a container image needs no SQL
#  files beside the executable). The table is
#      const bus_migration_t <symbol>[] = {{1, "001_init", "..."}, ..., {0}};
#  and the files' order on the command line is their order of application.
function(project_embed_sql output symbol)
    set(script ${PROJECT_SOURCE_DIR}/cmake/embed_sql.cmake)
    add_custom_command(
        OUTPUT ${output}
        COMMAND ${CMAKE_COMMAND} -DOUTPUT=${output} -DSYMBOL=${symbol}
                "-DFILES=${ARGN}" -P ${script}
        DEPENDS ${ARGN} ${script}
        COMMENT "Embedding SQL migrations into ${symbol}"
        VERBATIM)
endfunction()
