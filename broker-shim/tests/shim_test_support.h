/*  =========================================================================
    shim_test_support - bridged mode as real processes, and the .NET side

    The broker shim's integration tests run what an operator runs: the
    service executables (order, inventory, billing, broker-shim) as
    processes (tests/support/ts_proc.h), each with a fresh database and
    fixed loopback ports, wired in bridged mode by PUBLISHERS; and
    mt_peer.py, a pika client that plays the MassTransit side (a receive
    endpoint consuming, a publisher, a reader of the error queue). A test
    may also start a RabbitMQ node of its own (scripts/lib.sh's
    rabbit_start) when it must stop and start the broker.

    Names on the shared broker carry a random suffix (shim_ts_suffix), and
    the shim's exchanges are given names of their own with SHIM_MAP
    (shim_ts_map), so tests in parallel never see each other's messages.

        char suffix[SHIM_TS_SUFFIX_SIZE];
        shim_ts_suffix(suffix);
        shim_ts_service_t *order = shim_ts_service_new(SHIM_TS_ORDER, log_dir);
        shim_ts_service_t *shim = shim_ts_service_new(SHIM_TS_SHIM, log_dir);
        shim_ts_service_set(shim, "PUBLISHERS", order->pub);
        shim_ts_service_t *all[] = {order, shim, NULL};
        shim_ts_services_start(all);
        ...
        shim_ts_service_destroy(&shim);
    =========================================================================
*/
#ifndef SHIM_TEST_SUPPORT_H_INCLUDED
#define SHIM_TEST_SUPPORT_H_INCLUDED

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "ts_proc.h"

//  Bytes of a name suffix with its NUL (16 hex digits).
#define SHIM_TS_SUFFIX_SIZE 17

//  How long processes may take to become ready, to exit, and how long a
//  test waits for messages to arrive.
#define SHIM_TS_READY_MS 60000
#define SHIM_TS_STOP_MS 20000
#define SHIM_TS_WAIT_MS 60000

typedef enum { SHIM_TS_ORDER, SHIM_TS_INVENTORY, SHIM_TS_BILLING, SHIM_TS_SHIM } shim_ts_which_t;

typedef struct {
    const char *name; //  "order", "inventory", "billing", "shim" (static)
    char *stream;     //  the stream it publishes, "<name>-0" (owned)
    char *db;         //  conninfo of its fresh database (owned)
    PGconn *conn;     //  the test's connection to it (owned)
    int http_port;    //  HTTP_ADDR port on 127.0.0.1
    char *pub;        //  its PUB_ENDPOINT, "tcp://127.0.0.1:<port>" (owned)
    char *base_url;   //  "http://127.0.0.1:<http_port>" (owned)
    ts_proc_t *proc;  //  the process (owned), not started
} shim_ts_service_t;

//  A random suffix of 16 hex digits.
void shim_ts_suffix(char suffix[SHIM_TS_SUFFIX_SIZE]);

//  SHIM_MAP text giving every type the exchange "<prefix>.Contracts:<Type>Event"
//  (URNs unchanged). Caller owns return value.
char *shim_ts_map(const char *prefix);

//  The exchange shim_ts_map gives `type_name` ("OrderCreatedEvent").
//  Caller owns return value.
char *shim_ts_exchange(const char *prefix, const char *type_name);

//  Describe a service: fresh database, ports, its log in
//  `log_dir`/<name>.log; DATABASE_URL, STREAM, HTTP_ADDR, PUB_ENDPOINT set
//  and PUBLISHERS empty (set it with shim_ts_service_set). The shim also
//  gets LOG_LEVEL debug. Nothing runs yet. Caller owns return value.
shim_ts_service_t *shim_ts_service_new(shim_ts_which_t which, const char *log_dir);

//  Kill what still runs, drop the database, free; nulls the pointer.
void shim_ts_service_destroy(shim_ts_service_t **self_p);

//  Set an environment variable for the next start.
void shim_ts_service_set(shim_ts_service_t *self, const char *name, const char *value);

//  Start every service of the NULL-terminated list, then wait until each
//  answers /readyz 200 (they may subscribe to each other). Fails the test
//  otherwise.
void shim_ts_services_start(shim_ts_service_t *const *services);

//  "<base_url><path>". Caller owns return value.
char *shim_ts_url(const shim_ts_service_t *self, const char *path);

//  The value of one Prometheus series of the service's /metrics, given as
//  its name with labels exactly as rendered ('shim_bridged_total{direction="to_rabbitmq"}'),
//  or -1 if absent or unreachable.
double shim_ts_metric(const shim_ts_service_t *self, const char *series);

//  One number from SQL on the service's database (text parameters,
//  NULL-terminated or NULL), -1 on failure or no row.
long shim_ts_sql_number(const shim_ts_service_t *self, const char *sql, const char *const *params);

//  ---------------------------------------------------------------------
//  The .NET side (mt_peer.py)

//  Start a MassTransit receive endpoint `endpoint` bound from each of the
//  NULL-terminated `exchanges`, writing deliveries to `out_path` (JSON
//  lines; `compact`: ids only), and wait until it consumes. Its log is
//  `log_path`. Caller owns return value (stop it with ts_proc_term).
ts_proc_t *shim_ts_peer_consume(const char *url,
                                const char *endpoint,
                                const char *const *exchanges,
                                const char *out_path,
                                bool compact,
                                const char *log_path);

//  Publish `messages` (a JSON array of objects as mt_peer.py's spec says)
//  with confirms, through a spec file in `dir`. Fails the test if
//  mt_peer.py does not exit 0.
void shim_ts_peer_publish(const char *url, const json_t *messages, const char *dir);

//  Take every message now in `queue`. Caller owns return value (array).
json_t *shim_ts_peer_get(const char *url, const char *queue, const char *dir);

//  Whether RabbitMQ holds a queue named `queue` (a passive declare).
bool shim_ts_peer_queue_exists(const char *url, const char *queue, const char *dir);

//  Delete queues and exchanges (NULL-terminated lists, or NULL).
void shim_ts_peer_delete(const char *url,
                         const char *const *queues,
                         const char *const *exchanges,
                         const char *dir);

//  The JSON objects of a JSON-lines file that have `key` (NULL: all).
//  Caller owns return value (array).
json_t *shim_ts_lines(const char *path, const char *key);

//  ---------------------------------------------------------------------
//  A RabbitMQ node of the test's own (scripts/lib.sh)

typedef struct {
    char *dir; //  its directory (owned; removed on destroy)
    char *url; //  its AMQP URL (owned)
} shim_ts_rabbit_t;

//  Start a private node in a new temporary directory (about 6 s). Fails
//  the test if it does not start. Caller owns return value; a node not
//  destroyed (its test failed) is stopped when the process exits.
shim_ts_rabbit_t *shim_ts_rabbit_new(void);

//  rabbitmqctl `command` ("stop_app", "start_app") on the node; fails the
//  test if it does not succeed.
void shim_ts_rabbit_ctl(shim_ts_rabbit_t *self, const char *command);

//  Stop the node, remove its directory, free; nulls the pointer.
void shim_ts_rabbit_destroy(shim_ts_rabbit_t **self_p);

//  ---------------------------------------------------------------------
//  Processes to completion

//  Run `path` with `args` (NULL-terminated), output appended to
//  `log_path`, until it exits (at most `timeout_ms`; then it is killed).
//  Returns its exit code, or TS_PROC_TIMEOUT.
int shim_ts_run(const char *path, const char *const *args, const char *log_path, int timeout_ms);

#endif
