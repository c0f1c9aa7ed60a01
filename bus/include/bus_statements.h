/*  =========================================================================
    bus_statements - a service's SQL statements, prepared once per connection

    Parsing and planning a statement costs more than running it (0.3 ms
    against 0.1 ms for our CTEs on this machine), and a handler runs the
    same few statements for every event. A statement table names them; the
    first execution on a connection prepares the whole table there (one
    round trip that lists pg_prepared_statements, then PQprepare for what
    is missing, so it also works inside an open transaction and on a
    connection that already has them), and later executions only send
    PQexecPrepared. A new connection (another PGconn, or the same address
    with another backend) is noticed and prepared again.

        static const bus_statement_t s_statements[] = {
            {.name = "inventory_lock", .sql = "SELECT ... $1 ... $2", .params = 2},
            {.name = NULL}};
        bus_statements_t *statements = bus_statements_new(s_statements);
        PGresult *result = bus_statements_exec(statements, conn, 0, values, &error);
        if (!result) ...    //  error says why (connection lost, prepare failed)
        ... check PQresultStatus(result) as usual, PQclear(result)

    or, with that check done and explained in the error:

        PGresult *result = bus_statements_run(statements, conn, 0, values,
                                              PGRES_TUPLES_OK, "locking stock", &error);

    Threads: a bus_statements_t remembers ONE connection; give each thread
    (each connection) its own instance, e.g. one for the handler on the
    writer's thread and one for queries on the service thread.
    =========================================================================
*/
#ifndef BUS_STATEMENTS_H_INCLUDED
#define BUS_STATEMENTS_H_INCLUDED

#include <stddef.h>

struct pg_conn;
struct pg_result;

typedef struct bus_statements bus_statements_t;

//  One statement. Names must be unique per database session and should
//  carry the component's prefix ("order_create").
typedef struct {
    const char *name; //  prepared statement name; NULL ends a table
    const char *sql;  //  its text with $1.. parameters
    int params;       //  its parameter count (all sent as text)
} bus_statement_t;

//  Create the memory for a table (borrowed: static tables only). Caller
//  owns return value.
bus_statements_t *bus_statements_new(const bus_statement_t *table);

//  Destroy; accepts NULL and nulls the caller's pointer.
void bus_statements_destroy(bus_statements_t **self_p);

//  Run statement `index` of the table on `conn` with text `values` (as
//  many as its params; NULL entries are SQL NULL), preparing the table on
//  this connection first when needed. Returns the result whatever its
//  status (caller checks it and owns it: PQclear), or NULL when the
//  connection is bad or preparing failed, with the reason in *error_out
//  (caller owns it, zstr_free). If the server reports the statement
//  unknown (SQLSTATE 26000: someone ran DEALLOCATE), the table is prepared
//  again on the next call.
struct pg_result *bus_statements_exec(bus_statements_t *self,
                                      struct pg_conn *conn,
                                      size_t index,
                                      const char *const *values,
                                      char **error_out);

//  bus_statements_exec, and the check every caller makes next: the result
//  must have status `expected` (an ExecStatusType, such as
//  PGRES_TUPLES_OK). Returns the result (caller owns it: PQclear), or NULL
//  with "<what>: <why>" in *error_out (caller owns it, zstr_free; pass
//  NULL for no message): why is bus_statements_exec's reason, or the
//  result's error message without its trailing newline (its status name
//  when it has none), after "connection lost: " when the connection is
//  bad.
struct pg_result *bus_statements_run(bus_statements_t *self,
                                     struct pg_conn *conn,
                                     size_t index,
                                     const char *const *values,
                                     int expected,
                                     const char *what,
                                     char **error_out);

#endif
