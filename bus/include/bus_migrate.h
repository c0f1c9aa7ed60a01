/*  =========================================================================
    bus_migrate - numbered SQL migrations, applied once, recorded

    Every component that owns tables (the bus's event log and checkpoints,
    each service's own schema) ships its numbered migrations compiled into
    the binary (cmake/embed.cmake turns sql/NNN_name.sql into a
    bus_migration_t table). At start the process calls bus_migrate, which
    applies the migrations not yet recorded in bus_schema_migrations, each in
    its own transaction together with its record. A transaction-scoped
    advisory lock per component serialises replicas that start together, so
    each migration runs exactly once.

        extern const bus_migration_t order_migrations[];
        char *error = NULL;
        if (bus_migrate(conn, "order", order_migrations, &error) != 0) ...
    =========================================================================
*/
#ifndef BUS_MIGRATE_H_INCLUDED
#define BUS_MIGRATE_H_INCLUDED

struct pg_conn;

typedef struct bus_migration {
    int version;      //  1, 2, ... from the file name's number; 0 ends a table
    const char *name; //  file name without extension, e.g. "001_init"
    const char *sql;  //  the statements, run as one transaction
} bus_migration_t;

//  The bus's own tables (event log, streams, checkpoints, dead letters).
extern const bus_migration_t bus_migrations[];

//  Apply, in version order, each migration of `component` that is not yet
//  recorded. Returns the number of migrations applied (0 if none were
//  needed), or -1 on failure, in which case *error_out receives a message
//  naming the migration and PostgreSQL's error (caller owns it; free with
//  zstr_free) and the failed migration left no trace. A recorded version
//  whose name differs from the binary's is a failure too (renumbered files).
int bus_migrate(struct pg_conn *conn,
                const char *component,
                const bus_migration_t *migrations,
                char **error_out);

#endif
