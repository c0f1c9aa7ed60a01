/*  =========================================================================
    bus_migrate - numbered SQL migrations, applied once, recorded

    Each migration runs in its own transaction with the insert of its record,
    so a failure leaves neither the half-applied schema nor the record. The
    advisory lock is taken inside that transaction (pg_advisory_xact_lock) and
    is released by the commit or the rollback, so a crash cannot leave it
    held.
    =========================================================================
*/
#include "bus_classes.h"

static const char *s_create_record_table =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(hashtext('bus_schema_migrations'));"
    "CREATE TABLE IF NOT EXISTS bus_schema_migrations ("
    " component text NOT NULL,"
    " version integer NOT NULL,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (component, version));"
    "COMMIT";

//  --------------------------------------------------------------------------
//  Run a statement without parameters that must succeed with no rows. On
//  failure, set *error_out naming `what` and return -1.

static int
s_exec_command(PGconn *conn, const char *sql, const char *what, char **error_out)
{
    PGresult *result = PQexec(conn, sql);
    int rc = 0;
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
        *error_out = zsys_sprintf("%s: %s", what, PQresultErrorMessage(result));
        rc = -1;
    }
    PQclear(result);
    return rc;
}

//  --------------------------------------------------------------------------
//  Return the name recorded for (component, version), "" if none, or NULL
//  on a query failure (with *error_out set). Caller owns return value.

static char *
s_recorded_name(PGconn *conn, const char *component, int version, char **error_out)
{
    char version_text[16];
    snprintf(version_text, sizeof version_text, "%d", version);
    const char *params[] = {component, version_text};
    PGresult *result = PQexecParams(conn,
                                    "SELECT name FROM bus_schema_migrations"
                                    " WHERE component = $1 AND version = $2",
                                    2, NULL, params, NULL, NULL, 0);
    char *name = NULL;
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        *error_out =
            zsys_sprintf("reading bus_schema_migrations: %s", PQresultErrorMessage(result));
    } else {
        name = strdup(PQntuples(result) > 0 ? PQgetvalue(result, 0, 0) : "");
    }
    PQclear(result);
    return name;
}

//  --------------------------------------------------------------------------
//  Apply one migration inside the current transaction and record it.
//  Returns 1 if applied, 0 if it was already recorded, -1 on failure.

static int
s_apply_one(PGconn *conn, const char *component, const bus_migration_t *migration, char **error_out)
{
    const char *lock_params[] = {component};
    PGresult *result = PQexecParams(conn, "SELECT pg_advisory_xact_lock(hashtext($1))", 1, NULL,
                                    lock_params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(result);
    PQclear(result);
    if (status != PGRES_TUPLES_OK) {
        *error_out = zsys_sprintf("%s: could not take the migration lock", component);
        return -1;
    }
    char *recorded = s_recorded_name(conn, component, migration->version, error_out);
    if (!recorded) {
        return -1;
    }
    int rc = 0;
    if (*recorded) {
        if (!streq(recorded, migration->name)) {
            *error_out =
                zsys_sprintf("%s: version %d is recorded as %s but this binary calls it %s",
                             component, migration->version, recorded, migration->name);
            rc = -1;
        }
        goto cleanup;
    }
    char *what = zsys_sprintf("%s migration %s", component, migration->name);
    rc = s_exec_command(conn, migration->sql, what, error_out);
    zstr_free(&what);
    if (rc == 0) {
        char version_text[16];
        snprintf(version_text, sizeof version_text, "%d", migration->version);
        const char *params[] = {component, version_text, migration->name};
        result = PQexecParams(conn,
                              "INSERT INTO bus_schema_migrations (component, version, name)"
                              " VALUES ($1, $2, $3)",
                              3, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(result) != PGRES_COMMAND_OK) {
            *error_out =
                zsys_sprintf("recording %s: %s", migration->name, PQresultErrorMessage(result));
            rc = -1;
        } else {
            rc = 1;
        }
        PQclear(result);
    }
cleanup:
    zstr_free(&recorded);
    return rc;
}

//  --------------------------------------------------------------------------
//  Apply what is missing, one transaction per migration.

int
bus_migrate(PGconn *conn,
            const char *component,
            const bus_migration_t *migrations,
            char **error_out)
{
    assert(conn);
    assert(component);
    assert(migrations);
    assert(error_out);
    *error_out = NULL;
    //  Two replicas starting together would race on CREATE TABLE IF NOT
    //  EXISTS (a unique violation in pg_type), so even that runs under a lock.
    if (s_exec_command(conn, s_create_record_table, "creating bus_schema_migrations", error_out)) {
        return -1;
    }
    int applied = 0;
    for (const bus_migration_t *migration = migrations; migration->version; migration++) {
        if (s_exec_command(conn, "BEGIN", "BEGIN", error_out)) {
            return -1;
        }
        int rc = s_apply_one(conn, component, migration, error_out);
        const char *end = rc < 0 ? "ROLLBACK" : "COMMIT";
        char *end_error = NULL;
        if (s_exec_command(conn, end, end, &end_error) && rc >= 0) {
            *error_out = end_error;
            end_error = NULL;
            rc = -1;
        }
        zstr_free(&end_error);
        if (rc < 0) {
            return -1;
        }
        applied += rc;
    }
    return applied;
}
