/*  =========================================================================
    ts - test support: real servers, fresh databases, waiting with deadlines

    The servers are the ones scripts/test.sh starts and describes in the
    environment; this file only reads that description. A helper that cannot
    do its job (variable missing, server refusing) prints why on stderr and
    aborts, so the test fails instead of passing by skipping: these are
    failures of the test environment, not of the code under test. The SQL
    one-liners that tests call on their own databases are different: what
    goes wrong there is the test's finding, so they fail the running cmocka
    test and the other tests of the file still run.
    =========================================================================
*/
//  nftw is an XSI function: ask for it before any header is read.
#define _XOPEN_SOURCE 700
#include <czmq.h>
#include <ftw.h>
#include <inttypes.h>
#include <sys/random.h>
#include <curl/curl.h>
#include <libpq-fe.h>

#undef NDEBUG
#include <assert.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ts.h"

//  Largest HTTP response body we keep; a test server sending more is broken.
#define TS_HTTP_BODY_MAX (16 * 1024 * 1024)

//  Every database we create is named t_<pid>_<16 hex digits>.
#define TS_DB_PREFIX "t_"

//  ---------------------------------------------------------------------
//  Fail the test: say why on stderr and abort.

static void
s_fail(const char *what, const char *detail)
{
    fprintf(stderr, "ts: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    fflush(stderr);
    abort();
}

//  ---------------------------------------------------------------------
//  The value of environment variable `name`, or fail the test.

static const char *
s_require_env(const char *name)
{
    const char *value = getenv(name);
    if (!value || !*value) {
        fprintf(stderr, "ts: %s is not set: run through scripts/test.sh\n", name);
        fflush(stderr);
        abort();
    }
    return value;
}

//  ---------------------------------------------------------------------
//  Connect to the administrative database of the test cluster, or fail.

static PGconn *
s_admin_connect(void)
{
    PGconn *conn = PQconnectdb(s_require_env("TEST_PG_DSN"));
    if (PQstatus(conn) != CONNECTION_OK) {
        s_fail("cannot connect to TEST_PG_DSN", PQerrorMessage(conn));
    }
    return conn;
}

//  ---------------------------------------------------------------------
//  Run one statement that returns no rows, or fail the test.

static void
s_admin_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "ts: %s\n", sql);
        s_fail("statement failed", PQresultErrorMessage(res));
    }
    PQclear(res);
}

//  ---------------------------------------------------------------------
//  Run "<verb> DATABASE <quoted name><tail>" on the admin connection.

static void
s_admin_exec_on_db(PGconn *conn, const char *verb, const char *dbname, const char *tail)
{
    char *quoted = PQescapeIdentifier(conn, dbname, strlen(dbname));
    if (!quoted) {
        s_fail("cannot quote database name", PQerrorMessage(conn));
    }
    char *sql = zsys_sprintf("%s DATABASE %s%s", verb, quoted, tail);
    s_admin_exec(conn, sql);
    zstr_free(&sql);
    PQfreemem(quoted);
}

//  ---------------------------------------------------------------------
//  Append `keyword='value'` to a conninfo string, quoting as libpq wants.

static void
s_conninfo_append(zchunk_t *out, const char *keyword, const char *value)
{
    if (zchunk_size(out) > 0) {
        zchunk_extend(out, " ", 1);
    }
    zchunk_extend(out, keyword, strlen(keyword));
    zchunk_extend(out, "='", 2);
    for (const char *c = value; *c; c++) {
        if (*c == '\'' || *c == '\\') {
            zchunk_extend(out, "\\", 1);
        }
        zchunk_extend(out, c, 1);
    }
    zchunk_extend(out, "'", 1);
}

//  ---------------------------------------------------------------------
//  The admin DSN with dbname replaced (or added). Caller owns return value.

static char *
s_conninfo_with_dbname(const char *dsn, const char *dbname)
{
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(dsn, &error);
    if (!options) {
        s_fail("TEST_PG_DSN does not parse", error);
    }
    zchunk_t *out = zchunk_new(NULL, 0);
    for (PQconninfoOption *option = options; option->keyword; option++) {
        if (option->val && strcmp(option->keyword, "dbname") != 0) {
            s_conninfo_append(out, option->keyword, option->val);
        }
    }
    s_conninfo_append(out, "dbname", dbname);
    PQconninfoFree(options);
    char *conninfo = zsys_sprintf("%.*s", (int) zchunk_size(out), (char *) zchunk_data(out));
    zchunk_destroy(&out);
    return conninfo;
}

//  ---------------------------------------------------------------------
//  The dbname of a conninfo string. Caller owns return value.

static char *
s_conninfo_dbname(const char *conninfo)
{
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error);
    if (!options) {
        s_fail("conninfo does not parse", error);
    }
    char *dbname = NULL;
    for (PQconninfoOption *option = options; option->keyword; option++) {
        if (strcmp(option->keyword, "dbname") == 0 && option->val) {
            dbname = strdup(option->val);
        }
    }
    PQconninfoFree(options);
    return dbname;
}

//  ---------------------------------------------------------------------
//  Create a fresh database: the name is made only of digits and hex that we
//  generate (identifiers cannot be query parameters), and it is still
//  quoted. template0 is never connected to, so concurrent creates from
//  parallel tests cannot find the template busy.

char *
ts_pg_create_db(void)
{
    uint64_t nonce = 0;
    if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t) sizeof nonce) {
        s_fail("getrandom failed", strerror(errno));
    }
    char dbname[64];
    snprintf(dbname, sizeof dbname, TS_DB_PREFIX "%d_%016" PRIx64, (int) getpid(), nonce);

    PGconn *conn = s_admin_connect();
    s_admin_exec_on_db(conn, "CREATE", dbname, " TEMPLATE template0");
    PQfinish(conn);
    return s_conninfo_with_dbname(s_require_env("TEST_PG_DSN"), dbname);
}

//  ---------------------------------------------------------------------
//  Drop a database made by ts_pg_create_db, ending its open connections.

void
ts_pg_drop_db(char **conninfo_p)
{
    assert(conninfo_p);
    if (!*conninfo_p) {
        return;
    }
    char *dbname = s_conninfo_dbname(*conninfo_p);
    //  Only what ts_pg_create_db made may be dropped through here.
    assert(dbname && strncmp(dbname, TS_DB_PREFIX, strlen(TS_DB_PREFIX)) == 0);

    PGconn *conn = s_admin_connect();
    s_admin_exec_on_db(conn, "DROP", dbname, " WITH (FORCE)");
    PQfinish(conn);
    freen(dbname);
    zstr_free(conninfo_p);
}

//  ---------------------------------------------------------------------
//  Fail the running test with "<sql>: <detail>". The result is cleared
//  first, because fail_msg does not come back and the detail may be its
//  error message: hence the copy.

static void
s_pg_fail(PGresult *result, const char *sql, const char *detail)
{
    char message[2048];
    (void) snprintf(message, sizeof message, "%s: %s", sql, detail);
    PQclear(result);
    fail_msg("%s", message);
}

//  ---------------------------------------------------------------------

PGconn *
ts_pg_connect(const char *conninfo)
{
    assert(conninfo);
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        char message[1024];
        (void) snprintf(message, sizeof message, "%s", PQerrorMessage(conn));
        PQfinish(conn);
        fail_msg("cannot connect: %s", message);
    }
    return conn;
}

//  ---------------------------------------------------------------------
//  TUPLES_OK counts as success too, so that SELECTs run for their effect
//  (pg_terminate_backend, set_config) need no helper of their own.

void
ts_pg_exec(PGconn *conn, const char *sql)
{
    assert(conn);
    assert(sql);
    PGresult *result = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        s_pg_fail(result, sql, PQresultErrorMessage(result));
        return;
    }
    PQclear(result);
}

//  ---------------------------------------------------------------------
//  Strict about the shape and the value, so that a query that finds no row
//  (or NULL) fails where it is run instead of passing for a number.

long
ts_pg_number(PGconn *conn, const char *sql)
{
    assert(conn);
    assert(sql);
    PGresult *result = PQexec(conn, sql);
    char detail[128];
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        const char *error = PQresultErrorMessage(result);
        s_pg_fail(result, sql, *error ? error : "no rows returned");
        return 0;
    }
    if (PQntuples(result) != 1 || PQnfields(result) != 1) {
        (void) snprintf(detail, sizeof detail, "%d rows of %d columns, not one value",
                        PQntuples(result), PQnfields(result));
        s_pg_fail(result, sql, detail);
        return 0;
    }
    if (PQgetisnull(result, 0, 0)) {
        s_pg_fail(result, sql, "NULL, not a number");
        return 0;
    }
    const char *text = PQgetvalue(result, 0, 0);
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE) {
        (void) snprintf(detail, sizeof detail, "\"%.64s\" is not a whole number", text);
        s_pg_fail(result, sql, detail);
        return 0;
    }
    PQclear(result);
    return value;
}

//  ---------------------------------------------------------------------
//  The broker's URL, straight from the environment.

const char *
ts_amqp_url(void)
{
    return s_require_env("TEST_AMQP_URL");
}

//  ---------------------------------------------------------------------
//  Poll with exponential backoff, never sleeping past the deadline; the
//  condition is evaluated once more at the deadline, so a condition that
//  becomes true just in time is seen.

bool
ts_wait_until(ts_condition_fn *condition, void *arg, int timeout_ms)
{
    assert(condition);
    assert(timeout_ms >= 0);
    int64_t deadline = zclock_mono() + timeout_ms;
    int64_t backoff_ms = 1;
    while (!condition(arg)) {
        int64_t left_ms = deadline - zclock_mono();
        if (left_ms <= 0) {
            return false;
        }
        zclock_sleep((int) (backoff_ms < left_ms ? backoff_ms : left_ms));
        backoff_ms = backoff_ms * 2 > 50 ? 50 : backoff_ms * 2;
    }
    return true;
}

//  ---------------------------------------------------------------------
//  libcurl write callback: append to the reply body, up to TS_HTTP_BODY_MAX.

static size_t
s_http_collect(char *data, size_t size, size_t count, void *userp)
{
    ts_http_reply_t *reply = (ts_http_reply_t *) userp;
    size_t bytes = size * count;
    if (bytes > TS_HTTP_BODY_MAX - reply->body_size) {
        return 0; //  makes curl fail the transfer
    }
    char *body = (char *) realloc(reply->body, reply->body_size + bytes + 1);
    assert(body);
    memcpy(body + reply->body_size, data, bytes);
    reply->body = body;
    reply->body_size += bytes;
    reply->body[reply->body_size] = '\0';
    return bytes;
}

//  ---------------------------------------------------------------------
//  The last value of response header `name`, or NULL. Caller owns it.

static char *
s_http_header(CURL *curl, const char *name)
{
    struct curl_header *header = NULL;
    if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &header) != CURLHE_OK) {
        return NULL;
    }
    return strdup(header->value);
}

//  ---------------------------------------------------------------------
//  Set up the easy handle for one request; returns its header list.

static struct curl_slist *
s_http_setup(CURL *curl,
             const char *method,
             const char *url,
             const char *const *headers,
             const char *body,
             size_t body_size,
             int timeout_ms,
             ts_http_reply_t *reply)
{
    //  A body beyond TS_HTTP_EXPECT_MIN is announced (Expect: 100-continue),
    //  as a careful client does: a server that refuses it from its headers
    //  (413) answers before any of it is sent, instead of closing on unread
    //  bytes, whose reset can destroy its answer before the client reads
    //  it. A smaller one is sent at once ("Expect:" stops curl waiting).
    struct curl_slist *list = curl_slist_append(
        NULL, body_size > TS_HTTP_EXPECT_MIN ? "Expect: 100-continue" : "Expect:");
    for (size_t i = 0; headers && headers[i]; i++) {
        list = curl_slist_append(list, headers[i]);
    }
    assert(list);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); //  never via a proxy from the environment
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_http_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_size);
    }
    if (streq(method, "HEAD")) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    return list;
}

//  ---------------------------------------------------------------------
//  One request on a fresh easy handle: no connection reuse between calls,
//  so each request sees the server as a new client would.

int
ts_http_request(const char *method,
                const char *url,
                const char *const *headers,
                const char *body,
                size_t body_size,
                int timeout_ms,
                ts_http_reply_t *reply)
{
    assert(method);
    assert(url);
    assert(body || body_size == 0);
    assert(timeout_ms > 0);
    assert(reply);
    memset(reply, 0, sizeof *reply);
    reply->body = strdup("");
    assert(reply->body);

    CURL *curl = curl_easy_init();
    assert(curl);
    struct curl_slist *list =
        s_http_setup(curl, method, url, headers, body, body_size, timeout_ms, reply);
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
        reply->content_type = s_http_header(curl, "Content-Type");
        reply->location = s_http_header(curl, "Location");
    } else {
        fprintf(stderr, "ts: %s %s: %s\n", method, url, curl_easy_strerror(code));
        ts_http_reply_free(reply);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return code == CURLE_OK ? 0 : -1;
}

//  ---------------------------------------------------------------------

void
ts_http_reply_free(ts_http_reply_t *reply)
{
    assert(reply);
    freen(reply->body);
    freen(reply->content_type);
    freen(reply->location);
    memset(reply, 0, sizeof *reply);
}

//  ---------------------------------------------------------------------
//  A fresh directory under $TMPDIR (or /tmp); mkdtemp makes it mode 0700.

char *
ts_tmpdir_new(void)
{
    const char *base = getenv("TMPDIR");
    char *path = zsys_sprintf("%s/ts.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(path)) {
        s_fail("cannot create a temporary directory", strerror(errno));
    }
    return path;
}

//  ---------------------------------------------------------------------
//  nftw callback: remove one entry (children come first with FTW_DEPTH).

static int
s_remove_entry(const char *path, const struct stat *info, int type, struct FTW *ftw)
{
    (void) info;
    (void) type;
    (void) ftw;
    if (remove(path) != 0) {
        fprintf(stderr, "ts: cannot remove %s: %s\n", path, strerror(errno));
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Remove the tree without following symbolic links out of it.

void
ts_tmpdir_remove(char **path_p)
{
    assert(path_p);
    if (!*path_p) {
        return;
    }
    if (nftw(*path_p, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "ts: cannot walk %s: %s\n", *path_p, strerror(errno));
    }
    zstr_free(path_p);
}
