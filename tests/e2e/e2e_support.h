/*  =========================================================================
    e2e_support - the three services as real processes, and a client

    An e2e_system_t is the whole system of DESIGN section 1 as an operator
    runs it: order-service, inventory-service and billing-service, each an
    executable (ts_proc.h) with a fresh database of its own, fixed loopback
    ports chosen before the start (HTTP, and PUB with replay on PUB + 1),
    the publishers wired as in production (inventory and billing subscribe
    to order; order to inventory and billing), and its JSON log lines in
    a file under the test's log directory, kept after the run.

    e2e_http_t is a keep-alive HTTP client (libcurl) that parses JSON
    answers and reads the headers the contract names; one per thread.

        e2e_system_t *system = e2e_system_new("/build/tests/e2e/logs/flow", NULL);
        e2e_http_t *http = e2e_http_new();
        e2e_reply_t reply;
        e2e_http_call(http, "GET", e2e_url(system, E2E_ORDER, "/orders/x"), NULL, NULL, &reply);
        ...
        assert_int_equal(ts_proc_term(system->services[E2E_ORDER].proc, E2E_STOP_MS), 0);
        e2e_system_destroy(&system);
    =========================================================================
*/
#ifndef E2E_SUPPORT_H_INCLUDED
#define E2E_SUPPORT_H_INCLUDED

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "ts_proc.h"

//  How long a service may take to become ready (migrations, catch-up),
//  and to exit after SIGTERM.
#define E2E_READY_MS 60000
#define E2E_STOP_MS 20000
//  One HTTP request's limit.
#define E2E_REQUEST_MS 15000

//  The services, in the order they are started.
typedef enum { E2E_ORDER = 0, E2E_INVENTORY = 1, E2E_BILLING = 2, E2E_SERVICES = 3 } e2e_which_t;

typedef struct {
    const char *name; //  "order", "inventory", "billing" (static)
    char *stream;     //  the stream it publishes, "order-0" (owned)
    char *db;         //  conninfo of its own fresh database (owned)
    PGconn *conn;     //  the test's connection to that database (owned)
    int http_port;    //  HTTP_ADDR port on 127.0.0.1
    int pub_port;     //  PUB_ENDPOINT port; replay on pub_port + 1
    char *base_url;   //  "http://127.0.0.1:<http_port>" (owned)
    ts_proc_t *proc;  //  the process (owned)
} e2e_service_t;

typedef struct {
    char *log_dir;                        //  the services' log files (owned path)
    e2e_service_t services[E2E_SERVICES]; //  by e2e_which_t
} e2e_system_t;

//  Create the databases, write the logs to `log_dir` (emptied first,
//  created if missing), start the three services with `extra_env`
//  ("NAME=value", NULL-terminated, or NULL) on top of their standard
//  options, and wait until all three are ready. A service that cannot
//  bind its ports (another test took one) makes all three start again on
//  new ports. Fails the test if they do not become ready. Caller owns
//  return value.
e2e_system_t *e2e_system_new(const char *log_dir, const char *const *extra_env);

//  Kill what still runs, drop the databases, free; the logs stay. Accepts
//  NULL and nulls the caller's pointer.
void e2e_system_destroy(e2e_system_t **self_p);

//  Start a service again (after ts_proc_term or ts_proc_kill) on the same
//  ports and database, and wait until it is ready. Returns 0, or -1 if it
//  did not become ready within E2E_READY_MS (the log tail was printed).
int e2e_service_restart(e2e_system_t *self, e2e_which_t which);

//  "<base_url><path>" of a service. Caller owns return value (zstr_free).
char *e2e_url(const e2e_system_t *self, e2e_which_t which, const char *path);

//  True when every event published so far has been applied by every
//  subscriber: each consumer's checkpoint of each stream it follows is
//  that stream's committed tail, and no tail moved while looking (a
//  handler's own events commit with its checkpoint, so nothing is then in
//  flight). For ts_wait_until.
bool e2e_system_quiet(void *self);

//  The committed tail (last seq) of a service's stream, 0 if none yet.
long e2e_stream_tail(e2e_system_t *self, e2e_which_t which);

//  ---------------------------------------------------------------------
//  SQL on a service's database (checks only; the services own the data)

//  One number from a query with text parameters (`params` NULL-terminated
//  or NULL), or -1 if it failed (printed) or gave no row or NULL.
long e2e_sql_number(PGconn *conn, const char *sql, const char *const *params);

//  Run a query and return its result, or fail the test. Caller owns
//  return value (PQclear).
PGresult *e2e_sql_rows(PGconn *conn, const char *sql, const char *const *params);

//  ---------------------------------------------------------------------
//  HTTP client

typedef struct e2e_http e2e_http_t;

typedef struct {
    long status;        //  HTTP status, or 0 when no answer came
    char *body;         //  the body, NUL-terminated (owned)
    json_t *json;       //  the body parsed, or NULL if it is not JSON (owned)
    char *location;     //  Location header or NULL (owned)
    char *content_type; //  Content-Type header or NULL (owned)
    bool replayed;      //  Idempotent-Replayed: true
} e2e_reply_t;

//  A client whose connections are kept alive between calls. Caller owns
//  return value.
e2e_http_t *e2e_http_new(void);
void e2e_http_destroy(e2e_http_t **self_p);

//  One request; `headers` NULL-terminated "Name: value" or NULL, `body`
//  NULL for none (sent as given: add the Content-Type yourself). Returns
//  0 with *reply filled, or -1 when no answer came within E2E_REQUEST_MS
//  (reply->status 0; quiet, for callers that retry). Free the reply with
//  e2e_reply_free.
int e2e_http_call(e2e_http_t *self,
                  const char *method,
                  const char *url,
                  const char *const *headers,
                  const char *body,
                  e2e_reply_t *reply);

//  POST/PUT `body` as application/json, with `headers` (or NULL) added.
int e2e_http_send_json(e2e_http_t *self,
                       const char *method,
                       const char *url,
                       const char *const *headers,
                       const char *body,
                       e2e_reply_t *reply);

void e2e_reply_free(e2e_reply_t *reply);

//  GET `url` until the JSON answer's string `field` equals `value`, at
//  most `timeout_ms`. Returns that answer, or NULL after the deadline
//  (the last answer is printed). Caller owns return value (json_decref).
json_t *e2e_wait_field(
    e2e_http_t *self, const char *url, const char *field, const char *value, int timeout_ms);

//  A string member of a JSON object, or NULL (absent, null or not a
//  string). Borrowed from `object`.
const char *e2e_json_str(const json_t *object, const char *key);

//  ---------------------------------------------------------------------
//  Log lines

//  The JSON lines of a service's log whose string `key` equals `value`
//  (lines that are not JSON objects are skipped), as an array. Caller
//  owns return value.
json_t *e2e_log_lines(const ts_proc_t *proc, const char *key, const char *value);

#endif
