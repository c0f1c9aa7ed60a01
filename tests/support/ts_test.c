/*  =========================================================================
    ts_test - proves the test fixtures before other tests lean on them

    Runs against the PostgreSQL and RabbitMQ that scripts/test.sh starts.
    Each fixture is checked for what tests rely on: fresh databases are
    distinct, empty and really gone after the drop; the SQL one-liners
    fail the running test on what they do not expect; the AMQP URL logs in;
    waiting ends as soon as the condition holds and not after the deadline;
    the HTTP client sends what it is given and reads status, headers and
    body; a missing server description fails the test instead of skipping.
    =========================================================================
*/
#include <czmq.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <libpq-fe.h>
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ts.h"

//  The largest request the echo server below accepts.
#define ECHO_REQUEST_MAX 65536

//  ---------------------------------------------------------------------
//  Helpers

//  The first column of the first row of `sql` with one text parameter
//  (NULL for none). Caller owns return value.
static char *
s_query_value(PGconn *conn, const char *sql, const char *param)
{
    PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL, &param, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    }
    char *value = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return value;
}

static void
s_assert_query(PGconn *conn, const char *sql, const char *param, const char *expected)
{
    char *value = s_query_value(conn, sql, param);
    assert_string_equal(value, expected);
    freen(value);
}

//  Run `child(arg)` in a child process whose stdout and stderr go to a
//  pipe; returns all it wrote, and its waitpid status in *status. Caller
//  owns return value.
static char *
s_run_child(void (*child)(void *), void *arg, int *status)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout); //  else the child prints the parent's buffered lines again
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        child(arg);
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    zchunk_t *output = zchunk_new(NULL, 0);
    char buffer[1024];
    ssize_t size = 0;
    while ((size = read(fds[0], buffer, sizeof buffer)) > 0) {
        zchunk_extend(output, buffer, (size_t) size);
    }
    close(fds[0]);
    assert_int_equal(waitpid(pid, status, 0), pid);
    char *text = zsys_sprintf("%.*s", (int) zchunk_size(output), (char *) zchunk_data(output));
    zchunk_destroy(&output);
    return text;
}

typedef struct {
    const char *variable; //  unset in the child
    void (*fn)(void);     //  then called
} s_without_t;

static void
s_child_without(void *arg)
{
    s_without_t *without = arg;
    unsetenv(without->variable);
    without->fn();
}

//  Run `fn` in a child with `variable` unset; returns what it wrote and
//  asserts that it died of SIGABRT. Caller owns return value.
static char *
s_run_without(const char *variable, void (*fn)(void))
{
    s_without_t without = {variable, fn};
    int status = 0;
    char *output = s_run_child(s_child_without, &without, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    return output;
}

static void
s_call_amqp_url(void)
{
    ts_amqp_url();
}

static void
s_call_pg_create_db(void)
{
    char *conninfo = ts_pg_create_db();
    ts_pg_drop_db(&conninfo);
}

//  ---------------------------------------------------------------------
//  Usage: a test gets its own database and drops it at the end.

static void
test_usage(void **state)
{
    (void) state;
    char *conninfo = ts_pg_create_db();
    PGconn *conn = ts_pg_connect(conninfo);
    ts_pg_exec(conn, "CREATE TABLE items (id int PRIMARY KEY)");
    ts_pg_exec(conn, "INSERT INTO items VALUES (1), (2)");
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM items"), 2);
    PQfinish(conn);
    ts_pg_drop_db(&conninfo);
    assert_null(conninfo);
    ts_pg_drop_db(&conninfo); //  a second call does nothing
}

//  ---------------------------------------------------------------------

static void
test_missing_environment_fails_the_test(void **state)
{
    (void) state;
    char *output = s_run_without("TEST_AMQP_URL", s_call_amqp_url);
    assert_non_null(strstr(output, "TEST_AMQP_URL is not set: run through scripts/test.sh"));
    freen(output);
    output = s_run_without("TEST_PG_DSN", s_call_pg_create_db);
    assert_non_null(strstr(output, "TEST_PG_DSN is not set: run through scripts/test.sh"));
    freen(output);
}

//  ---------------------------------------------------------------------

static void
test_databases_are_distinct_and_empty(void **state)
{
    (void) state;
    const char *count_tables = "SELECT count(*) FROM pg_tables "
                               "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')";
    const char *items_missing = "SELECT to_regclass('public.items') IS NULL";
    char *first = ts_pg_create_db();
    char *second = ts_pg_create_db();
    PGconn *first_conn = ts_pg_connect(first);
    PGconn *second_conn = ts_pg_connect(second);

    char *first_name = s_query_value(first_conn, "SELECT current_database()", NULL);
    char *second_name = s_query_value(second_conn, "SELECT current_database()", NULL);
    assert_string_not_equal(first_name, second_name);
    s_assert_query(first_conn, count_tables, NULL, "0");
    s_assert_query(second_conn, count_tables, NULL, "0");

    ts_pg_exec(first_conn, "CREATE TABLE items (id int)");
    s_assert_query(first_conn, items_missing, NULL, "f");
    s_assert_query(second_conn, items_missing, NULL, "t");

    freen(first_name);
    freen(second_name);
    PQfinish(first_conn);
    PQfinish(second_conn);
    ts_pg_drop_db(&first);
    ts_pg_drop_db(&second);
}

//  ---------------------------------------------------------------------

static void
test_drop_removes_database_with_open_connections(void **state)
{
    (void) state;
    const char *exists = "SELECT count(*) FROM pg_database WHERE datname = $1";
    char *conninfo = ts_pg_create_db();
    PGconn *conn = ts_pg_connect(conninfo); //  left open: the drop must end it
    char *name = s_query_value(conn, "SELECT current_database()", NULL);
    PGconn *admin = ts_pg_connect(getenv("TEST_PG_DSN"));
    s_assert_query(admin, exists, name, "1");

    ts_pg_drop_db(&conninfo);
    assert_null(conninfo);
    s_assert_query(admin, exists, name, "0");

    freen(name);
    PQfinish(admin);
    PQfinish(conn);
}

//  ---------------------------------------------------------------------
//  The SQL one-liners take what succeeds (rows from ts_pg_exec too) and
//  fail the running test on anything else, naming the statement and what
//  came back. Each failure is provoked in a child that runs it as a cmocka
//  test of its own and must report that one test failed.

typedef struct {
    const char *conninfo; //  database the child connects to (borrowed)
    const char *sql;      //  statement the child runs
} s_sql_case_t;

static void
s_child_exec(void **state)
{
    s_sql_case_t *sql_case = *state;
    PGconn *conn = ts_pg_connect(sql_case->conninfo);
    ts_pg_exec(conn, sql_case->sql);
    PQfinish(conn);
}

static void
s_child_number(void **state)
{
    s_sql_case_t *sql_case = *state;
    PGconn *conn = ts_pg_connect(sql_case->conninfo);
    (void) ts_pg_number(conn, sql_case->sql);
    PQfinish(conn);
}

typedef struct {
    CMUnitTestFunction fn; //  the test the child runs
    s_sql_case_t sql_case; //  its state
} s_sql_child_t;

//  The child's own cmocka run of one test; exits with the failure count.
static void
s_child_cmocka(void *arg)
{
    s_sql_child_t *child = arg;
    const struct CMUnitTest tests[] = {cmocka_unit_test_prestate(child->fn, &child->sql_case)};
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    fflush(stdout);
    _exit(failed);
}

//  Run `fn` on `sql_case` as a cmocka test in a child; asserts that it
//  failed and returns what it printed. Caller owns return value.
static char *
s_run_failing(CMUnitTestFunction fn, s_sql_case_t sql_case)
{
    s_sql_child_t child = {fn, sql_case};
    int status = 0;
    char *output = s_run_child(s_child_cmocka, &child, &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    return output;
}

//  `fn` on `sql` fails the child's test, and its output holds `says`.
static void
s_assert_fails(CMUnitTestFunction fn, const char *conninfo, const char *sql, const char *says)
{
    char *output = s_run_failing(fn, (s_sql_case_t){conninfo, sql});
    if (!strstr(output, sql) || !strstr(output, says)) {
        fail_msg("%s: expected \"%s\" in:\n%s", sql, says, output);
    }
    freen(output);
}

static void
test_sql_one_liners(void **state)
{
    (void) state;
    char *conninfo = ts_pg_create_db();
    PGconn *conn = ts_pg_connect(conninfo);
    ts_pg_exec(conn, "CREATE TABLE items (id int)");
    ts_pg_exec(conn, "SELECT id FROM items");
    assert_int_equal(ts_pg_number(conn, "SELECT -9000000000"), -9000000000L);

    s_assert_fails(s_child_exec, conninfo, "INSERT INTO missing VALUES (1)",
                   "relation \"missing\" does not exist");
    s_assert_fails(s_child_number, conninfo, "SELEC 1", "syntax error");
    s_assert_fails(s_child_number, conninfo, "CREATE TABLE other (id int)", "no rows returned");
    s_assert_fails(s_child_number, conninfo, "SELECT id FROM items", "0 rows of 1 columns");
    s_assert_fails(s_child_number, conninfo, "SELECT 1, 2", "1 rows of 2 columns");
    s_assert_fails(s_child_number, conninfo, "SELECT NULL::int", "NULL, not a number");
    s_assert_fails(s_child_number, conninfo, "SELECT 'seven'", "\"seven\" is not a whole number");
    s_assert_fails(s_child_number, conninfo, "SELECT 1.5", "\"1.5\" is not a whole number");
    //  The child's test fails at the connection, before any statement.
    s_sql_case_t unreachable = {"host=/nonexistent-socket-dir port=1 dbname=none", "SELECT 1"};
    char *output = s_run_failing(s_child_number, unreachable);
    assert_non_null(strstr(output, "cannot connect: "));
    assert_null(strstr(output, "SELECT 1"));
    freen(output);

    PQfinish(conn);
    ts_pg_drop_db(&conninfo);
}

//  ---------------------------------------------------------------------

static void
s_assert_rpc_ok(amqp_connection_state_t conn, const char *what)
{
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        fail_msg("%s failed (reply type %d)", what, (int) reply.reply_type);
    }
}

static void
test_amqp_url_logs_in(void **state)
{
    (void) state;
    char *url = strdup(ts_amqp_url()); //  amqp_parse_url cuts the string up
    struct amqp_connection_info info;
    amqp_default_connection_info(&info);
    assert_int_equal(amqp_parse_url(url, &info), AMQP_STATUS_OK);
    assert_string_equal(info.host, "127.0.0.1");

    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    assert_non_null(socket);
    struct timeval timeout = {5, 0};
    assert_int_equal(amqp_socket_open_noblock(socket, info.host, info.port, &timeout),
                     AMQP_STATUS_OK);
    amqp_rpc_reply_t login = amqp_login(conn, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                                        info.user, info.password);
    assert_int_equal(login.reply_type, AMQP_RESPONSE_NORMAL);
    amqp_channel_open(conn, 1);
    s_assert_rpc_ok(conn, "channel.open");

    amqp_queue_declare_ok_t *declared =
        amqp_queue_declare(conn, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    s_assert_rpc_ok(conn, "queue.declare");
    assert_non_null(declared);
    amqp_bytes_t queue = amqp_bytes_malloc_dup(declared->queue);
    amqp_queue_delete(conn, 1, queue, 0, 0);
    s_assert_rpc_ok(conn, "queue.delete");

    amqp_bytes_free(queue);
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    assert_int_equal(amqp_destroy_connection(conn), AMQP_STATUS_OK);
    freen(url);
}

//  ---------------------------------------------------------------------
//  ts_wait_until

typedef struct {
    int calls;       //  times the condition was evaluated
    int true_from;   //  first call that returns true; 0 for never
    int64_t true_at; //  zclock_mono() from which it is true; 0 for never
} s_probe_t;

static bool
s_probe(void *arg)
{
    s_probe_t *probe = (s_probe_t *) arg;
    probe->calls++;
    if (probe->true_from && probe->calls >= probe->true_from) {
        return true;
    }
    return probe->true_at && zclock_mono() >= probe->true_at;
}

static void
test_wait_returns_as_soon_as_condition_holds(void **state)
{
    (void) state;
    s_probe_t probe = {.true_from = 5};
    int64_t start = zclock_mono();
    assert_true(ts_wait_until(s_probe, &probe, 10000));
    assert_int_equal(probe.calls, 5);
    assert_true(zclock_mono() - start < 1000); //  1+2+4+8 ms of backoff

    probe = (s_probe_t){.true_at = zclock_mono() + 100};
    start = zclock_mono();
    assert_true(ts_wait_until(s_probe, &probe, 10000));
    int64_t elapsed = zclock_mono() - start;
    assert_true(elapsed >= 100);
    assert_true(elapsed < 1000); //  at most one 50 ms backoff late, plus a slow machine
}

static void
test_wait_gives_up_at_deadline(void **state)
{
    (void) state;
    s_probe_t probe = {0};
    int64_t start = zclock_mono();
    assert_false(ts_wait_until(s_probe, &probe, 200));
    int64_t elapsed = zclock_mono() - start;
    assert_true(elapsed >= 200);
    assert_true(elapsed < 1200);
    assert_true(probe.calls >= 5); //  it polled, not slept through

    probe = (s_probe_t){0};
    assert_false(ts_wait_until(s_probe, &probe, 0));
    assert_int_equal(probe.calls, 1);
}

//  ---------------------------------------------------------------------
//  An HTTP server for the client test: a STREAM socket that answers each
//  complete request with 201, a Content-Type, a Location and the request
//  itself as the body, then closes. Pipe commands: PORT, $TERM.

typedef struct {
    zsock_t *stream;                    //  owned
    char request[ECHO_REQUEST_MAX + 1]; //  the request so far, NUL-terminated
    size_t size;                        //  bytes in request
} s_echo_t;

//  True when `request` holds the headers and all Content-Length bytes.
static bool
s_echo_complete(const char *request, size_t size)
{
    const char *end = strstr(request, "\r\n\r\n");
    if (!end) {
        return false;
    }
    const char *length = strstr(request, "\r\nContent-Length: ");
    size_t body = length && length < end ? strtoul(length + 18, NULL, 10) : 0;
    return size >= (size_t) (end + 4 - request) + body;
}

static void
s_echo_answer(s_echo_t *self, zframe_t *peer)
{
    char *answer = zsys_sprintf("HTTP/1.1 201 Created\r\n"
                                "Content-Type: text/plain\r\n"
                                "Location: /orders/42\r\n"
                                "Content-Length: %zu\r\n"
                                "Connection: close\r\n\r\n%s",
                                self->size, self->request);
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, zframe_data(peer), zframe_size(peer));
    zmsg_addstr(msg, answer);
    zmsg_send(&msg, self->stream);
    msg = zmsg_new(); //  an empty frame closes the connection
    zmsg_addmem(msg, zframe_data(peer), zframe_size(peer));
    zmsg_addmem(msg, NULL, 0);
    zmsg_send(&msg, self->stream);
    zstr_free(&answer);
    self->size = 0;
    self->request[0] = '\0';
}

static void
s_echo_handle_stream(s_echo_t *self)
{
    zmsg_t *msg = zmsg_recv(self->stream);
    zframe_t *peer = zmsg_pop(msg);
    zframe_t *data = zmsg_pop(msg);
    size_t size = data ? zframe_size(data) : 0;
    if (size > 0 && size <= ECHO_REQUEST_MAX - self->size) {
        memcpy(self->request + self->size, zframe_data(data), size);
        self->size += size;
        self->request[self->size] = '\0';
        if (s_echo_complete(self->request, self->size)) {
            s_echo_answer(self, peer);
        }
    }
    zframe_destroy(&data);
    zframe_destroy(&peer);
    zmsg_destroy(&msg);
}

static void
s_echo_server(zsock_t *pipe, void *args)
{
    (void) args;
    s_echo_t *self = (s_echo_t *) zmalloc(sizeof(s_echo_t));
    self->stream = zsock_new(ZMQ_STREAM);
    int port = zsock_bind(self->stream, "tcp://127.0.0.1:*");
    assert(port > 0);
    zpoller_t *poller = zpoller_new(pipe, self->stream, NULL);
    zsock_signal(pipe, 0);
    bool terminated = false;
    while (!terminated) {
        void *which = zpoller_wait(poller, -1);
        if (which == self->stream) {
            s_echo_handle_stream(self);
        } else if (!which) {
            terminated = true; //  interrupted
        } else {
            char *command = zstr_recv(pipe);
            if (command && streq(command, "PORT")) {
                zstr_sendf(pipe, "%d", port);
            } else {
                terminated = true; //  $TERM
            }
            zstr_free(&command);
        }
    }
    zpoller_destroy(&poller);
    zsock_destroy(&self->stream);
    freen(self);
}

static void
test_http_request_sends_and_reads_everything(void **state)
{
    (void) state;
    zactor_t *server = zactor_new(s_echo_server, NULL);
    zstr_send(server, "PORT");
    char *port = zstr_recv(server);
    char *url = zsys_sprintf("http://127.0.0.1:%s/orders?limit=1", port);
    const char *headers[] = {"Content-Type: application/json", "X-Test: yes", NULL};
    const char *body = "{\"sku\":\"A-1\"}";

    ts_http_reply_t reply;
    assert_int_equal(ts_http_request("POST", url, headers, body, strlen(body), 5000, &reply), 0);
    assert_int_equal(reply.status, 201);
    assert_string_equal(reply.content_type, "text/plain");
    assert_string_equal(reply.location, "/orders/42");
    assert_int_equal(reply.body_size, strlen(reply.body));
    assert_non_null(strstr(reply.body, "POST /orders?limit=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(reply.body, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(reply.body, "\r\nX-Test: yes\r\n"));
    assert_non_null(strstr(reply.body, "\r\n\r\n{\"sku\":\"A-1\"}"));
    ts_http_reply_free(&reply);
    assert_null(reply.body);

    assert_int_equal(ts_http_request("DELETE", url, NULL, NULL, 0, 5000, &reply), 0);
    assert_non_null(strstr(reply.body, "DELETE /orders?limit=1 HTTP/1.1\r\n"));
    ts_http_reply_free(&reply);

    zstr_free(&url);
    zstr_free(&port);
    zactor_destroy(&server);
}

static void
test_http_request_times_out(void **state)
{
    (void) state;
    //  A STREAM socket nobody reads accepts the connection and never answers.
    zsock_t *silent = zsock_new(ZMQ_STREAM);
    int port = zsock_bind(silent, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    char *url = zsys_sprintf("http://127.0.0.1:%d/", port);

    ts_http_reply_t reply;
    int64_t start = zclock_mono();
    assert_int_equal(ts_http_request("GET", url, NULL, NULL, 0, 200, &reply), -1);
    int64_t elapsed = zclock_mono() - start;
    assert_true(elapsed >= 190);
    assert_true(elapsed < 2000);
    assert_int_equal(reply.status, 0);
    assert_null(reply.body);

    zstr_free(&url);
    zsock_destroy(&silent);
}

//  ---------------------------------------------------------------------

static void
s_write_file(const char *path)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_true(fputs("x\n", file) >= 0);
    assert_int_equal(fclose(file), 0);
}

static void
test_tmpdir_is_private_and_removed(void **state)
{
    (void) state;
    char *outside = ts_tmpdir_new();
    char *target = zsys_sprintf("%s/keep", outside);
    s_write_file(target);

    char *dir = ts_tmpdir_new();
    struct stat info;
    assert_int_equal(stat(dir, &info), 0);
    assert_true(S_ISDIR(info.st_mode));
    assert_int_equal(info.st_mode & 0777, 0700);
    char *middle = zsys_sprintf("%s/a", dir);
    char *nested = zsys_sprintf("%s/a/b", dir);
    char *file = zsys_sprintf("%s/a/b/file", dir);
    char *link = zsys_sprintf("%s/a/link", dir);
    assert_int_equal(mkdir(middle, 0700), 0);
    assert_int_equal(mkdir(nested, 0700), 0);
    s_write_file(file);
    assert_int_equal(symlink(outside, link), 0);

    char *removed = strdup(dir);
    ts_tmpdir_remove(&dir);
    assert_null(dir);
    assert_int_equal(stat(removed, &info), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(stat(target, &info), 0); //  the link was not followed
    ts_tmpdir_remove(&dir);                   //  NULL is accepted

    freen(removed);
    zstr_free(&middle);
    zstr_free(&link);
    zstr_free(&file);
    zstr_free(&nested);
    zstr_free(&target);
    ts_tmpdir_remove(&outside);
}

//  ---------------------------------------------------------------------

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_missing_environment_fails_the_test),
        cmocka_unit_test(test_databases_are_distinct_and_empty),
        cmocka_unit_test(test_drop_removes_database_with_open_connections),
        cmocka_unit_test(test_sql_one_liners),
        cmocka_unit_test(test_amqp_url_logs_in),
        cmocka_unit_test(test_wait_returns_as_soon_as_condition_holds),
        cmocka_unit_test(test_wait_gives_up_at_deadline),
        cmocka_unit_test(test_http_request_sends_and_reads_everything),
        cmocka_unit_test(test_http_request_times_out),
        cmocka_unit_test(test_tmpdir_is_private_and_removed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
