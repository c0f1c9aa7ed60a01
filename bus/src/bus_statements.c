/*  =========================================================================
    bus_statements - a service's SQL statements, prepared once per connection

    The instance remembers the connection (pointer and backend pid) on
    which it last found or made every statement of its table. While the
    caller's connection is that one, an execution is one PQexecPrepared.
    Otherwise it first lists pg_prepared_statements (one round trip; it
    works inside a transaction, and PREPARE is not undone by ROLLBACK, so
    a statement made in a transaction that rolls back stays), prepares what
    is missing, and refuses a name the session already uses for another
    text: two tables that share a name on one connection would otherwise
    run each other's SQL.

    An execution that the server answers with SQLSTATE 26000 (the statement
    is gone: DEALLOCATE, DISCARD ALL) forgets the connection, so the next
    call lists and prepares again.

    Plans go stale as tables grow. After five executions PostgreSQL may
    keep one generic plan per statement, costed with the table sizes of
    that moment, and keeps it until the table is analyzed: a service that
    starts on empty tables then scans whole tables for every lookup until
    autovacuum's first ANALYZE (measured: every read-model batch of the
    order service read all of order_history). So after 64, 256, 1024, ...
    executions (x4, then every BUS_STATEMENTS_REPLAN_MAX) the connection
    is told DISCARD PLANS (a constant statement, allowed in a transaction):
    the statements stay prepared, and their next executions plan again
    with the sizes of now. The executions track how much the tables grew.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_statements.h"

//  SQLSTATE invalid_sql_statement_name: "prepared statement ... does not exist".
#define S_NO_SUCH_STATEMENT "26000"

//  The statements the session already has, with their text.
static const char *s_list_sql = "SELECT name, statement FROM pg_prepared_statements";

//  Re-plan after this many executions, then 4 times as many, up to MAX;
//  from then on every MAX.
#define BUS_STATEMENTS_REPLAN_FIRST 64
#define BUS_STATEMENTS_REPLAN_MAX 1048576

struct bus_statements {
    const bus_statement_t *table; //  the statements (borrowed, static)
    size_t count;                 //  how many, without the NULL entry
    PGconn *conn;                 //  where all are known to exist (not owned), NULL if nowhere
    int pid;                      //  that connection's backend pid then
    uint64_t executions;          //  executions on that connection
    uint64_t replan_at;           //  DISCARD PLANS when executions reach this
};

//  --------------------------------------------------------------------------
//  Create and destroy

bus_statements_t *
bus_statements_new(const bus_statement_t *table)
{
    assert(table);
    bus_statements_t *self = zmalloc(sizeof *self);
    self->table = table;
    while (table[self->count].name) {
        assert(table[self->count].sql);
        assert(table[self->count].params >= 0);
        self->count++;
    }
    return self;
}

void
bus_statements_destroy(bus_statements_t **self_p)
{
    assert(self_p);
    freen(*self_p);
}

//  --------------------------------------------------------------------------
//  The length of a libpq message without its trailing newline and spaces.

static int
s_trimmed_length(const char *message)
{
    int length = (int) strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == ' ')) {
        length--;
    }
    return length;
}

//  --------------------------------------------------------------------------
//  Give the caller a message: `what`, then the result's or the connection's
//  error without its trailing newline.

static void
s_set_error(char **error_out, PGconn *conn, const PGresult *result, const char *what)
{
    const char *message = result ? PQresultErrorMessage(result) : "";
    if (!*message) {
        message = PQerrorMessage(conn);
    }
    zstr_free(error_out);
    *error_out = zsys_sprintf("%s: %.*s", what, s_trimmed_length(message), message);
}

//  --------------------------------------------------------------------------
//  The text the session holds under `name` in the listing, or NULL.

static const char *
s_listed(const PGresult *listing, const char *name)
{
    for (int row = 0; row < PQntuples(listing); row++) {
        if (streq(PQgetvalue(listing, row, 0), name)) {
            return PQgetvalue(listing, row, 1);
        }
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Make every statement of the table exist on `conn`. Returns 0, or -1
//  with the reason in *error_out.

static int
s_prepare(bus_statements_t *self, PGconn *conn, char **error_out)
{
    PGresult *listing = PQexec(conn, s_list_sql);
    if (PQresultStatus(listing) != PGRES_TUPLES_OK) {
        s_set_error(error_out, conn, listing, "listing prepared statements");
        PQclear(listing);
        return -1;
    }
    int rc = 0;
    for (size_t index = 0; rc == 0 && index < self->count; index++) {
        const bus_statement_t *statement = &self->table[index];
        const char *existing = s_listed(listing, statement->name);
        if (existing && streq(existing, statement->sql)) {
            continue;
        }
        if (existing) {
            zstr_free(error_out);
            *error_out = zsys_sprintf("preparing %s: the session has a statement of that name"
                                      " with another text",
                                      statement->name);
            rc = -1;
            break;
        }
        PGresult *prepared =
            PQprepare(conn, statement->name, statement->sql, statement->params, NULL);
        if (PQresultStatus(prepared) != PGRES_COMMAND_OK) {
            char *what = zsys_sprintf("preparing %s", statement->name);
            s_set_error(error_out, conn, prepared, what);
            zstr_free(&what);
            rc = -1;
        }
        PQclear(prepared);
    }
    PQclear(listing);
    if (rc == 0) {
        self->conn = conn;
        self->pid = PQbackendPID(conn);
        self->executions = 0;
        self->replan_at = BUS_STATEMENTS_REPLAN_FIRST;
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  At the next point of the schedule, drop the session's cached plans. A
//  failure (an aborted transaction) is left to the execution that follows
//  to report; the schedule waits for a DISCARD that succeeds.

static void
s_replan(bus_statements_t *self, PGconn *conn)
{
    if (self->executions++ < self->replan_at) {
        return;
    }
    PGresult *result = PQexec(conn, "DISCARD PLANS");
    if (PQresultStatus(result) == PGRES_COMMAND_OK) {
        self->replan_at = self->replan_at < BUS_STATEMENTS_REPLAN_MAX
                              ? self->replan_at * 4
                              : self->replan_at + BUS_STATEMENTS_REPLAN_MAX;
    }
    PQclear(result);
}

//  --------------------------------------------------------------------------
//  Run statement `index`, preparing the table on this connection first.

PGresult *
bus_statements_exec(
    bus_statements_t *self, PGconn *conn, size_t index, const char *const *values, char **error_out)
{
    assert(self);
    assert(conn);
    assert(index < self->count);
    assert(values || self->table[index].params == 0);
    assert(error_out);
    if (PQstatus(conn) != CONNECTION_OK) {
        s_set_error(error_out, conn, NULL, "connection lost");
        self->conn = NULL;
        return NULL;
    }
    //  Another connection, or the same PGconn reset onto a new backend.
    if ((self->conn != conn || self->pid != PQbackendPID(conn)) &&
        s_prepare(self, conn, error_out) != 0) {
        return NULL;
    }
    s_replan(self, conn);
    const bus_statement_t *statement = &self->table[index];
    PGresult *result =
        PQexecPrepared(conn, statement->name, statement->params, values, NULL, NULL, 0);
    if (!result) {
        s_set_error(error_out, conn, NULL, statement->name);
        return NULL;
    }
    const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    if (sqlstate && streq(sqlstate, S_NO_SUCH_STATEMENT)) {
        self->conn = NULL;
    }
    return result;
}

//  --------------------------------------------------------------------------
//  Run statement `index` and check its status, explaining a failure.

PGresult *
bus_statements_run(bus_statements_t *self,
                   PGconn *conn,
                   size_t index,
                   const char *const *values,
                   int expected,
                   const char *what,
                   char **error_out)
{
    assert(self);
    assert(conn);
    assert(what);
    char *error = NULL;
    PGresult *result = bus_statements_exec(self, conn, index, values, &error);
    char *message = NULL;
    if (!result) {
        message = zsys_sprintf("%s: %s", what, error ? error : "no result");
    } else if (PQresultStatus(result) != (ExecStatusType) expected) {
        const char *reason = PQresultErrorMessage(result);
        if (!*reason) {
            reason = PQresStatus(PQresultStatus(result));
        }
        message = zsys_sprintf("%s: %s%.*s", what,
                               PQstatus(conn) == CONNECTION_OK ? "" : "connection lost: ",
                               s_trimmed_length(reason), reason);
        PQclear(result);
        result = NULL;
    }
    zstr_free(&error);
    if (message && error_out) {
        zstr_free(error_out);
        *error_out = message;
    } else {
        zstr_free(&message);
    }
    return result;
}
