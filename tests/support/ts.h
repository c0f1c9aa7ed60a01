/*  =========================================================================
    ts - test support: real servers, fresh databases, waiting with deadlines

    Integration tests talk to a real PostgreSQL and a real RabbitMQ that
    scripts/test.sh starts privately on loopback and describes in the
    environment (TEST_PG_DSN, TEST_AMQP_URL). A helper whose server is not
    described fails the test with a message saying so (it prints why on
    stderr and aborts): a test never passes by skipping.

    The SQL one-liners (ts_pg_connect, ts_pg_exec, ts_pg_number) are for
    cmocka tests, on the test's own thread: a failure fails the running
    test with cmocka's fail_msg, saying what was asked and what the server
    answered.

    Waiting is always bounded by a deadline and ends as soon as the awaited
    condition holds (nng's NUTS_MARRY); there is no bare sleep.
    =========================================================================
*/
#ifndef TS_H_INCLUDED
#define TS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

//  ---------------------------------------------------------------------
//  PostgreSQL

//  Create a fresh, empty database on the test cluster and return its
//  libpq connection string. Fails the test if TEST_PG_DSN is not set or the
//  server refuses. Caller owns return value; drop it with ts_pg_drop_db.
char *ts_pg_create_db(void);

//  Drop the database (terminating its connections) and free the string;
//  accepts NULL and nulls the caller's pointer. Only a string made by
//  ts_pg_create_db may be passed (asserted). Fails the test if the server
//  refuses.
void ts_pg_drop_db(char **conninfo_p);

//  Connect to `conninfo` (as from ts_pg_create_db). Fails the test with
//  libpq's message if the connection is not made. Caller owns return
//  value; close it with PQfinish.
PGconn *ts_pg_connect(const char *conninfo);

//  Run one statement on `conn`. Fails the test with the statement and the
//  server's message unless it gives PGRES_COMMAND_OK or PGRES_TUPLES_OK
//  (any rows are dropped).
void ts_pg_exec(PGconn *conn, const char *sql);

//  The value of `sql`, a query of one row and one column, as a number.
//  Fails the test with the statement and what came back if the query
//  fails, gives another shape, or gives NULL or a value that is not a
//  whole number (write coalesce(..., n) where "no value" is expected).
long ts_pg_number(PGconn *conn, const char *sql);

//  ---------------------------------------------------------------------
//  RabbitMQ

//  The AMQP URL of the test broker, "amqp://user:pass@127.0.0.1:port/%2F"
//  (the vhost "/" spelt out: librabbitmq reads a bare trailing "/" as the
//  empty vhost).
//  Fails the test if TEST_AMQP_URL is not set. Borrowed, valid for the
//  process lifetime.
const char *ts_amqp_url(void);

//  ---------------------------------------------------------------------
//  Waiting

typedef bool(ts_condition_fn)(void *arg);

//  Call `condition` until it returns true or `timeout_ms` have passed,
//  backing off from 1 ms to 50 ms between calls. Returns the last result.
bool ts_wait_until(ts_condition_fn *condition, void *arg, int timeout_ms);

//  ---------------------------------------------------------------------
//  HTTP client (libcurl), for tests of HTTP servers

typedef struct {
    long status;        //  HTTP status, or 0 if the request failed
    char *body;         //  response body, NUL-terminated (owned)
    size_t body_size;   //  bytes in body, without the NUL
    char *content_type; //  Content-Type header or NULL (owned)
    char *location;     //  Location header or NULL (owned)
} ts_http_reply_t;

//  Bodies larger than this (bytes) are sent after the server's 100
//  Continue (Expect: 100-continue), smaller ones at once.
#define TS_HTTP_EXPECT_MIN 16384

//  Send one request and wait for the whole answer. `headers` is a
//  NULL-terminated array of "Name: value" strings, or NULL; `body` may be
//  NULL. Returns 0 and fills *reply, or -1 if no answer came within
//  `timeout_ms` (reply->status is then 0, nothing to free, and the reason
//  is printed on stderr). Release a reply with ts_http_reply_free.
int ts_http_request(const char *method,
                    const char *url,
                    const char *const *headers,
                    const char *body,
                    size_t body_size,
                    int timeout_ms,
                    ts_http_reply_t *reply);

//  Free what a reply owns and zero it.
void ts_http_reply_free(ts_http_reply_t *reply);

//  ---------------------------------------------------------------------
//  Files

//  Create a private temporary directory (mode 0700) under $TMPDIR or /tmp.
//  Fails the test if it cannot. Caller owns return value; remove it and its
//  contents with ts_tmpdir_remove.
char *ts_tmpdir_new(void);

//  Remove the directory tree and free the path; accepts NULL.
void ts_tmpdir_remove(char **path_p);

#endif
