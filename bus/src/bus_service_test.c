/*  =========================================================================
    bus_service_test - the process host against real PostgreSQL and sockets

    Two toy services are defined here as a service's main would define
    them. "things" has a one-table schema and a route, POST /things, that
    submits a unit inserting a row and appending an OrderCreated, and
    answers 201 from the done callback. "watcher" subscribes to OrderCreated
    from the things service's PUB port and records each event it applies.
    Every case gets fresh databases (TEST_PG_DSN), ephemeral ports
    ("127.0.0.1:0" for HTTP, "tcp://127.0.0.1:*" for PUB) and talks HTTP
    through libcurl; waits are ts_wait_until on a condition, never sleeps.

    Cases: the usage example (migrations once across two starts, POST ->
    row + event, metrics); a subscriber service applying each event once,
    also across its restart; an unreachable database (starts, /readyz 503
    naming it); the query connection terminated under the service
    (reconnects by itself); the dead-letter routes; destroy with a unit in
    flight (answered, late requests 503), and past SHUTDOWN_TIMEOUT_MS;
    start failures and their exit codes; bus_service_main.

    bus_service_main is run in a child process (fork + exec of this binary
    with --service-main) so that it starts with a fresh ZeroMQ context and
    its exit code can be checked.

    The test reaches its toy service's state through a service option,
    THINGS_CONTROL, which carries the address of the case's control block
    (printf %p / scanf %p round-trips a pointer within one process).
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_envelope.h"
#include "bus_inbox.h"
#include "bus_service.h"
#include "ts.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  How long any single wait in these tests may take.
#define WAIT_MS 30000
//  How long one HTTP request may take.
#define HTTP_MS 10000

//  --------------------------------------------------------------------------
//  What a case controls in its things service: units can be held (they
//  wait inside the writer's transaction) until released.

typedef struct {
    pthread_mutex_t mutex; //  guards the three flags
    pthread_cond_t cond;   //  signalled when a flag changes
    bool hold;             //  units wait for `released`
    int hold_ms;           //  ... but at most this long (0 = WAIT_MS)
    bool held;             //  a unit is waiting
    bool released;         //  waiting units may go on
} control_t;

static void
s_control_init(control_t *control)
{
    memset(control, 0, sizeof *control);
    pthread_mutex_init(&control->mutex, NULL);
    pthread_cond_init(&control->cond, NULL);
}

static void
s_control_fini(control_t *control)
{
    pthread_cond_destroy(&control->cond);
    pthread_mutex_destroy(&control->mutex);
}

static void
s_control_release(control_t *control)
{
    pthread_mutex_lock(&control->mutex);
    control->released = true;
    pthread_cond_broadcast(&control->cond);
    pthread_mutex_unlock(&control->mutex);
}

static bool
s_control_held(void *arg)
{
    control_t *control = arg;
    pthread_mutex_lock(&control->mutex);
    bool held = control->held;
    pthread_mutex_unlock(&control->mutex);
    return held;
}

//  In a unit (the writer's thread): wait while the case holds units,
//  bounded so a broken case cannot hang the writer for ever.
static void
s_control_wait(control_t *control)
{
    pthread_mutex_lock(&control->mutex);
    if (control->hold) {
        control->held = true;
        pthread_cond_broadcast(&control->cond);
        int hold_ms = control->hold_ms ? control->hold_ms : WAIT_MS;
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += hold_ms / 1000;
        deadline.tv_nsec += (long) (hold_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
        while (!control->released) {
            if (pthread_cond_timedwait(&control->cond, &control->mutex, &deadline) != 0) {
                break;
            }
        }
    }
    pthread_mutex_unlock(&control->mutex);
}

//  --------------------------------------------------------------------------
//  The things service

static const bus_migration_t s_things_migrations[] = {
    {.version = 1,
     .name = "001_things",
     .sql = "CREATE TABLE things (id bigserial PRIMARY KEY, name text NOT NULL)"},
    {.version = 0}};

static const svc_option_t s_things_options[] = {
    {.name = "THINGS_CONTROL",
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = "Test only: address of the case's control block"},
    {.name = NULL}};

typedef struct {
    bus_service_t *service; //  our host, borrowed
    control_t *control;     //  the case's control block, or NULL
} things_t;

//  One POST /things on its way through the writer.
typedef struct {
    things_t *things;            //  borrowed
    svc_http_request_t *request; //  held until the done callback answers
    char *name;                  //  the thing's name (owned)
    uint8_t order_id[16];        //  id of the OrderCreated appended
} thing_unit_t;

//  Append an OrderCreated for `order_id`, built by hand.
static int
s_append_order(bus_tx_t *tx, const uint8_t *order_id)
{
    Ev__V1__Money price;
    ev__v1__money__init(&price);
    price.currency = "EUR";
    price.amount_minor = 1999;
    Ev__V1__OrderItem item;
    ev__v1__order_item__init(&item);
    item.sku = "SKU-1";
    item.quantity = 1;
    item.unit_price = &price;
    Ev__V1__OrderItem *items[] = {&item};
    Ev__V1__OrderCreated created;
    ev__v1__order_created__init(&created);
    created.order_id = (ProtobufCBinaryData){16, (uint8_t *) order_id};
    created.customer_id = "customer-1";
    created.total = &price;
    created.n_items = 1;
    created.items = items;
    created.created_at_us = 1700000000000000;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    envelope.order_created = &created;
    return bus_tx_append(tx, &envelope, order_id, 16);
}

//  The unit (writer's thread): a row and an event, in one transaction.
static int
s_thing_work(bus_tx_t *tx, void *arg)
{
    thing_unit_t *unit = arg;
    if (unit->things->control) {
        s_control_wait(unit->things->control);
    }
    const char *params[] = {unit->name};
    PGresult *result = PQexecParams(bus_tx_conn(tx), "INSERT INTO things (name) VALUES ($1)", 1,
                                    NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(result) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(result);
    return rc == 0 ? s_append_order(tx, unit->order_id) : -1;
}

//  The done callback (service thread): answer the held request.
static void
s_thing_done(bus_service_t *service, const bus_completion_t *done, void *arg)
{
    (void) service;
    thing_unit_t *unit = arg;
    if (done->rc == BUS_OK) {
        json_t *body =
            json_pack("{s:s, s:I}", "name", unit->name, "seq", (json_int_t) done->last_seq);
        svc_http_respond_json(unit->request, 201, &body);
    } else if (done->rc == BUS_DB_UNAVAILABLE || done->rc == BUS_CLOSED) {
        svc_http_respond_error(unit->request, 503, "unavailable", NULL, bus_strerror(done->rc));
    } else {
        svc_http_respond_error(unit->request, 500, "internal", NULL, bus_strerror(done->rc));
    }
    zstr_free(&unit->name);
    freen(unit);
}

//  POST /things {"name": "..."}
static void
s_handle_things(svc_http_request_t *request, void *arg)
{
    things_t *things = arg;
    json_t *body = svc_http_request_json(request);
    if (!body) {
        return;
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!name || !*name || strlen(name) > 64) {
        svc_http_respond_error(request, 400, "invalid_value", "name", "must be 1-64 bytes");
        json_decref(body);
        return;
    }
    thing_unit_t *unit = zmalloc(sizeof *unit);
    unit->things = things;
    unit->request = request;
    unit->name = strdup(name);
    svc_uuid_t id;
    svc_uuid_v7(&id);
    memcpy(unit->order_id, id.bytes, sizeof unit->order_id);
    json_decref(body);
    if (bus_service_submit(things->service, s_thing_work, unit, s_thing_done, unit) != 0) {
        svc_http_respond_error(request, 503, "unavailable", NULL, "shutting down");
        zstr_free(&unit->name);
        freen(unit);
    }
}

static void *
s_things_start(bus_service_t *service)
{
    things_t *things = zmalloc(sizeof *things);
    things->service = service;
    const char *control = svc_config_str(bus_service_config(service), "THINGS_CONTROL");
    void *pointer = NULL;
    if (*control && sscanf(control, "%p", &pointer) == 1) {
        things->control = pointer;
    }
    svc_http_route(bus_service_http(service), "POST", "/things", s_handle_things, things);
    return things;
}

static void
s_things_stop(bus_service_t *service, void *state)
{
    (void) service;
    freen(state);
}

static const bus_service_def_t s_things_def = {.name = "things",
                                               .description = "Toy service: things",
                                               .http_addr = "127.0.0.1:0",
                                               .pub_endpoint = "tcp://127.0.0.1:*",
                                               .publishers = "",
                                               .database = "dbname=bus_service_test_none",
                                               .options = s_things_options,
                                               .migrations = s_things_migrations,
                                               .start = s_things_start,
                                               .stop = s_things_stop};

//  --------------------------------------------------------------------------
//  The watcher service: records every OrderCreated it applies.

static const bus_migration_t s_watcher_migrations[] = {
    {.version = 1,
     .name = "001_seen",
     .sql = "CREATE TABLE seen (order_id bytea NOT NULL, stream text NOT NULL,"
            " seq bigint NOT NULL)"},
    {.version = 0}};

static const char *const s_watcher_types[] = {"OrderCreated", NULL};

//  The handler (writer's thread): one row per application, on purpose
//  without a unique key, so that applying twice would show as two rows.
static int
s_watcher_apply(bus_apply_t *apply, const Ev__V1__Envelope *event, void *arg)
{
    assert(arg);
    char seq[24];
    (void) snprintf(seq, sizeof seq, "%" PRIu64, event->seq);
    const char *params[] = {(const char *) event->order_created->order_id.data, event->stream, seq};
    int lengths[] = {(int) event->order_created->order_id.len, 0, 0};
    int formats[] = {1, 0, 0};
    PGresult *result = PQexecParams(bus_apply_conn(apply),
                                    "INSERT INTO seen (order_id, stream, seq)"
                                    " VALUES ($1, $2, $3)",
                                    3, NULL, params, lengths, formats, 0);
    int rc = 0;
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
        bus_apply_fail(apply, "%s", PQresultErrorMessage(result));
        rc = -1;
    }
    PQclear(result);
    return rc;
}

static void *
s_watcher_start(bus_service_t *service)
{
    (void) service;
    return zmalloc(1); //  no state needed; the handler checks it is passed
}

static void
s_watcher_stop(bus_service_t *service, void *state)
{
    (void) service;
    freen(state);
}

static const bus_service_def_t s_watcher_def = {.name = "watcher",
                                                .description = "Toy service: watches things",
                                                .http_addr = "127.0.0.1:0",
                                                .pub_endpoint = "tcp://127.0.0.1:*",
                                                .publishers = "",
                                                .database = "dbname=bus_service_test_none",
                                                .migrations = s_watcher_migrations,
                                                .types = s_watcher_types,
                                                .handler = s_watcher_apply,
                                                .start = s_watcher_start,
                                                .stop = s_watcher_stop};

//  A service whose start fails.
static void *
s_failing_start(bus_service_t *service)
{
    (void) service;
    return NULL;
}

static const bus_service_def_t s_failing_def = {.name = "failing",
                                                .description = "Toy service: cannot start",
                                                .http_addr = "127.0.0.1:0",
                                                .pub_endpoint = "tcp://127.0.0.1:*",
                                                .database = "dbname=bus_service_test_none",
                                                .start = s_failing_start};

//  --------------------------------------------------------------------------
//  Fixture: databases, a log, and the services a case started.

#define SERVICES_MAX 4

typedef struct {
    svc_config_t *config;   //  owned, outlives the service
    svc_metrics_t *metrics; //  owned, outlives the service
    bus_service_t *service; //  owned
} hosted_t;

typedef struct {
    char *db_a;                    //  fresh database (owned)
    char *db_b;                    //  fresh database (owned)
    svc_log_t *log;                //  on stderr (owned)
    control_t control;             //  passed to things services
    hosted_t hosted[SERVICES_MAX]; //  services started by the case
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->db_a = ts_pg_create_db();
    fixture->db_b = ts_pg_create_db();
    fixture->log = svc_log_new("test", "bus_service_test", SVC_LOG_WARN, stderr);
    s_control_init(&fixture->control);
    *state = fixture;
    return 0;
}

static void
s_hosted_stop(hosted_t *hosted)
{
    bus_service_destroy(&hosted->service);
    svc_metrics_destroy(&hosted->metrics);
    svc_config_destroy(&hosted->config);
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    s_control_release(&fixture->control);
    for (int index = 0; index < SERVICES_MAX; index++) {
        s_hosted_stop(&fixture->hosted[index]);
    }
    s_control_fini(&fixture->control);
    svc_log_destroy(&fixture->log);
    ts_pg_drop_db(&fixture->db_b);
    ts_pg_drop_db(&fixture->db_a);
    freen(fixture);
    return 0;
}

//  Start `def` in slot `slot` with the flags a test needs plus `extra`
//  (NULL-terminated, may be NULL). Returns the service, or NULL with
//  *exit_code set.
static bus_service_t *
s_start(fixture_t *fixture,
        int slot,
        const bus_service_def_t *def,
        const char *database,
        const char *publishers,
        const char *const *extra,
        int *exit_code)
{
    hosted_t *hosted = &fixture->hosted[slot];
    assert_null(hosted->service);
    svc_config_destroy(&hosted->config);
    svc_metrics_destroy(&hosted->metrics);
    hosted->config = svc_config_new(def->name, def->description);
    bus_service_options_add(hosted->config, def);
    if (def->options) {
        svc_config_add(hosted->config, def->options);
    }
    char control[32];
    (void) snprintf(control, sizeof control, "%p", (void *) &fixture->control);
    const char *argv[32] = {
        "bus_service_test",  "--http-addr",           "127.0.0.1:0", "--pub-endpoint",
        "tcp://127.0.0.1:*", "--database-url",        database,      "--publishers",
        publishers,          "--shutdown-timeout-ms", "20000"};
    int argc = 11;
    if (def->options) {
        argv[argc++] = "--things-control";
        argv[argc++] = control;
    }
    for (int index = 0; extra && extra[index]; index++) {
        argv[argc++] = extra[index];
    }
    assert_int_equal(svc_config_load(hosted->config, argc, (char **) argv), SVC_CONFIG_OK);
    hosted->metrics = svc_metrics_new();
    int code = -1;
    hosted->service = bus_service_new(def, hosted->config, fixture->log, hosted->metrics, &code);
    if (exit_code) {
        *exit_code = code;
    }
    return hosted->service;
}

static bool
s_is_ready(void *arg)
{
    return bus_service_ready(arg);
}

//  --------------------------------------------------------------------------
//  HTTP and SQL helpers

//  Send a request to the service; returns the reply (status 0 if none).
static ts_http_reply_t
s_http(bus_service_t *service, const char *method, const char *path, const char *body)
{
    char url[256];
    (void) snprintf(url, sizeof url, "http://127.0.0.1:%d%s", bus_service_http_port(service), path);
    const char *headers[] = {"Content-Type: application/json", NULL};
    ts_http_reply_t reply;
    if (ts_http_request(method, url, body ? headers : NULL, body, body ? strlen(body) : 0, HTTP_MS,
                        &reply) != 0) {
        memset(&reply, 0, sizeof reply);
    }
    return reply;
}

//  The reply's body as JSON (caller owns it), failing the test if it is not.
static json_t *
s_reply_json(const ts_http_reply_t *reply)
{
    json_error_t error;
    json_t *json = json_loads(reply->body ? reply->body : "", 0, &error);
    if (!json) {
        fail_msg("not JSON (%s): %s", error.text, reply->body ? reply->body : "(none)");
    }
    return json;
}

//  Request and check the status; returns the body as JSON (caller owns).
static json_t *
s_http_expect(
    bus_service_t *service, const char *method, const char *path, const char *body, long status)
{
    ts_http_reply_t reply = s_http(service, method, path, body);
    if (reply.status != status) {
        fail_msg("%s %s: %ld, expected %ld: %s", method, path, reply.status, status,
                 reply.body ? reply.body : "(none)");
    }
    json_t *json = s_reply_json(&reply);
    ts_http_reply_free(&reply);
    return json;
}

//  Check an error body: {"error": {"code": code, "field": field}}.
static void
s_assert_error(json_t *json, const char *code, const char *field)
{
    json_t *error = json_object_get(json, "error");
    assert_string_equal(json_string_value(json_object_get(error, "code")), code);
    if (field) {
        assert_string_equal(json_string_value(json_object_get(error, "field")), field);
    }
}

//  A single-number query on a fresh connection to `conninfo`.
static long
s_query_number(const char *conninfo, const char *sql)
{
    PGconn *conn = ts_pg_connect(conninfo);
    long value = ts_pg_number(conn, sql);
    PQfinish(conn);
    return value;
}

//  Waiting for a count: conninfo, SQL, and the number wanted.
typedef struct {
    const char *conninfo;
    const char *sql;
    long wanted;
} count_wait_t;

static bool
s_count_reached(void *arg)
{
    count_wait_t *wait = arg;
    return s_query_number(wait->conninfo, wait->sql) >= wait->wanted;
}

//  A TCP port on 127.0.0.1 that nothing listens on (bound, read, closed).
static int
s_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &address, sizeof address), 0);
    socklen_t size = sizeof address;
    assert_int_equal(getsockname(fd, (struct sockaddr *) &address, &size), 0);
    close(fd);
    return ntohs(address.sin_port);
}

//  --------------------------------------------------------------------------
//  The usage example: start, wait ready, POST, a row and an event, stop.
//  The schema is migrated once, however often the service starts.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    bus_service_t *service = s_start(fixture, 0, &s_things_def, fixture->db_a, "", NULL, NULL);
    assert_non_null(service);
    assert_true(bus_service_http_port(service) > 0);
    assert_true(bus_service_pub_port(service) > 0);
    assert_string_equal(bus_service_stream_id(service), "things-0");
    assert_int_equal(bus_service_partitions(service), 64);
    assert_true(ts_wait_until(s_is_ready, service, WAIT_MS));

    json_t *ready = s_http_expect(service, "GET", "/readyz", NULL, 200);
    json_decref(ready);
    json_t *created = s_http_expect(service, "POST", "/things", "{\"name\": \"first\"}", 201);
    assert_string_equal(json_string_value(json_object_get(created, "name")), "first");
    assert_int_equal(json_integer_value(json_object_get(created, "seq")), 1);
    json_decref(created);

    assert_int_equal(s_query_number(fixture->db_a, "SELECT count(*) FROM things"
                                                   " WHERE name = 'first'"),
                     1);
    assert_int_equal(s_query_number(fixture->db_a, "SELECT count(*) FROM bus_events"
                                                   " WHERE stream = 'things-0' AND seq = 1"
                                                   " AND type = 'OrderCreated'"),
                     1);
    ts_http_reply_t metrics = s_http(service, "GET", "/metrics", NULL);
    assert_int_equal(metrics.status, 200);
    assert_non_null(
        strstr(metrics.body, "bus_service_units_total{service=\"things\",outcome=\"ok\"} 1"));
    ts_http_reply_free(&metrics);

    //  A second start on the same database finds the schema recorded.
    s_hosted_stop(&fixture->hosted[0]);
    service = s_start(fixture, 0, &s_things_def, fixture->db_a, "", NULL, NULL);
    assert_non_null(service);
    assert_true(ts_wait_until(s_is_ready, service, WAIT_MS));
    assert_int_equal(s_query_number(fixture->db_a, "SELECT count(*) FROM bus_schema_migrations"
                                                   " WHERE component = 'things'"),
                     1);
    created = s_http_expect(service, "POST", "/things", "{\"name\": \"second\"}", 201);
    assert_int_equal(json_integer_value(json_object_get(created, "seq")), 2);
    json_decref(created);
    assert_int_equal(s_query_number(fixture->db_a, "SELECT count(*) FROM things"), 2);
}

//  --------------------------------------------------------------------------
//  A second service subscribes to the first's PUB port: each event is
//  applied exactly once, also across a restart of the subscriber.

static void
test_subscriber_applies_once(void **state)
{
    fixture_t *fixture = *state;
    bus_service_t *things = s_start(fixture, 0, &s_things_def, fixture->db_a, "", NULL, NULL);
    assert_non_null(things);
    char publishers[64];
    (void) snprintf(publishers, sizeof publishers, "tcp://127.0.0.1:%d",
                    bus_service_pub_port(things));
    bus_service_t *watcher =
        s_start(fixture, 1, &s_watcher_def, fixture->db_b, publishers, NULL, NULL);
    assert_non_null(watcher);
    assert_true(ts_wait_until(s_is_ready, things, WAIT_MS));
    assert_true(ts_wait_until(s_is_ready, watcher, WAIT_MS));

    json_decref(s_http_expect(things, "POST", "/things", "{\"name\": \"a\"}", 201));
    json_decref(s_http_expect(things, "POST", "/things", "{\"name\": \"b\"}", 201));
    count_wait_t wait = {fixture->db_b, "SELECT count(*) FROM seen", 2};
    assert_true(ts_wait_until(s_count_reached, &wait, WAIT_MS));

    //  Restart the subscriber; a third event arrives; none is applied twice.
    s_hosted_stop(&fixture->hosted[1]);
    json_decref(s_http_expect(things, "POST", "/things", "{\"name\": \"c\"}", 201));
    watcher = s_start(fixture, 1, &s_watcher_def, fixture->db_b, publishers, NULL, NULL);
    assert_non_null(watcher);
    wait.wanted = 3;
    assert_true(ts_wait_until(s_count_reached, &wait, WAIT_MS));
    assert_true(ts_wait_until(s_is_ready, watcher, WAIT_MS));
    assert_int_equal(s_query_number(fixture->db_b, "SELECT count(*) FROM seen"), 3);
    assert_int_equal(s_query_number(fixture->db_b, "SELECT count(DISTINCT seq) FROM seen"
                                                   " WHERE stream = 'things-0'"),
                     3);
    assert_int_equal(s_query_number(fixture->db_b, "SELECT count(*) FROM bus_schema_migrations"
                                                   " WHERE component = 'watcher'"),
                     1);
}

//  --------------------------------------------------------------------------
//  An unreachable database: the service starts, /healthz 200, /readyz 503
//  naming the database, units and admin routes 503.

static bool
s_readyz_names_database(void *arg)
{
    ts_http_reply_t reply = s_http(arg, "GET", "/readyz", NULL);
    bool named = reply.status == 503 && reply.body && strstr(reply.body, "database unreachable");
    ts_http_reply_free(&reply);
    return named;
}

static void
test_database_unreachable(void **state)
{
    fixture_t *fixture = *state;
    char database[128];
    (void) snprintf(database, sizeof database,
                    "host=127.0.0.1 port=%d dbname=none user=none connect_timeout=2",
                    s_closed_port());
    bus_service_t *service = s_start(fixture, 0, &s_things_def, database, "", NULL, NULL);
    assert_non_null(service);
    assert_true(ts_wait_until(s_readyz_names_database, service, WAIT_MS));
    assert_false(bus_service_ready(service));
    json_decref(s_http_expect(service, "GET", "/healthz", NULL, 200));
    json_t *error = s_http_expect(service, "GET", "/dead-letters", NULL, 503);
    s_assert_error(error, "unavailable", NULL);
    json_decref(error);
    error = s_http_expect(service, "POST", "/things", "{\"name\": \"lost\"}", 503);
    s_assert_error(error, "unavailable", NULL);
    json_decref(error);
}

//  --------------------------------------------------------------------------
//  The query connection's backend is terminated: the service notices on
//  its own (no request fails first), connects again without blocking its
//  loop, and the admin routes answer from the new connection.

typedef struct {
    const char *conninfo; //  the service's database
    long old_pid;         //  the terminated backend
} backend_wait_t;

static bool
s_new_backend(void *arg)
{
    backend_wait_t *wait = arg;
    long pid = s_query_number(wait->conninfo, "SELECT coalesce(max(pid), -1) FROM pg_stat_activity"
                                              " WHERE application_name = 'things-0-query'");
    return pid > 0 && pid != wait->old_pid;
}

static void
test_query_connection_recovers(void **state)
{
    fixture_t *fixture = *state;
    bus_service_t *service = s_start(fixture, 0, &s_things_def, fixture->db_a, "", NULL, NULL);
    assert_non_null(service);
    assert_true(ts_wait_until(s_is_ready, service, WAIT_MS));
    backend_wait_t wait = {.conninfo = fixture->db_a, .old_pid = -1};
    assert_true(ts_wait_until(s_new_backend, &wait, WAIT_MS));
    wait.old_pid = s_query_number(fixture->db_a, "SELECT max(pid) FROM pg_stat_activity"
                                                 " WHERE datname = current_database()"
                                                 " AND application_name = 'things-0-query'");
    assert_int_equal(s_query_number(fixture->db_a, "SELECT count(pg_terminate_backend(pid))"
                                                   " FROM pg_stat_activity"
                                                   " WHERE datname = current_database()"
                                                   " AND application_name = 'things-0-query'"),
                     1);
    assert_true(ts_wait_until(s_new_backend, &wait, WAIT_MS));
    assert_true(ts_wait_until(s_is_ready, service, WAIT_MS));
    json_t *list = s_http_expect(service, "GET", "/dead-letters", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);
}

//  --------------------------------------------------------------------------
//  Dead-letter routes over a row parked on a direct connection.

static void
test_dead_letters(void **state)
{
    fixture_t *fixture = *state;
    bus_service_t *service = s_start(fixture, 0, &s_things_def, fixture->db_a, "", NULL, NULL);
    assert_non_null(service);
    assert_true(ts_wait_until(s_is_ready, service, WAIT_MS));

    json_t *list = s_http_expect(service, "GET", "/dead-letters", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 0);
    assert_true(json_is_null(json_object_get(list, "next")));
    json_decref(list);

    PGconn *conn = ts_pg_connect(fixture->db_a);
    const uint8_t envelope[] = {0x0a, 0x03, 'a', 'b', 'c'};
    assert_int_equal(bus_inbox_park(conn, "watcher", "things-0", 7, 3, "OrderCreated",
                                    "0190a6e0-0000-7000-8000-000000000001", envelope,
                                    sizeof envelope, "handler failed", 5, NULL),
                     BUS_OK);
    list = s_http_expect(service, "GET", "/dead-letters", NULL, 200);
    json_t *items = json_object_get(list, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *item = json_array_get(items, 0);
    json_int_t id = json_integer_value(json_object_get(item, "id"));
    assert_true(id > 0);
    assert_string_equal(json_string_value(json_object_get(item, "consumer")), "watcher");
    assert_int_equal(json_integer_value(json_object_get(item, "seq")), 7);
    json_decref(list);

    //  Paging and filtering.
    list = s_http_expect(service, "GET", "/dead-letters?limit=1", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(list, "next")), id);
    json_decref(list);
    char path[128];
    (void) snprintf(path, sizeof path, "/dead-letters?after=%" JSON_INTEGER_FORMAT, id);
    list = s_http_expect(service, "GET", path, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);
    list = s_http_expect(service, "GET", "/dead-letters?consumer=other", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);
    list = s_http_expect(service, "GET", "/dead-letters?consumer=watcher", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
    json_decref(list);
    json_t *error = s_http_expect(service, "GET", "/dead-letters?limit=0", NULL, 400);
    s_assert_error(error, "invalid_value", "limit");
    json_decref(error);

    //  Retry marks it, discard removes it.
    (void) snprintf(path, sizeof path, "/dead-letters/%" JSON_INTEGER_FORMAT "/retry", id);
    json_t *answer = s_http_expect(service, "POST", path, NULL, 202);
    assert_int_equal(json_integer_value(json_object_get(answer, "id")), id);
    assert_string_equal(json_string_value(json_object_get(answer, "status")), "retry_requested");
    json_decref(answer);
    assert_int_equal(s_query_number(fixture->db_a, "SELECT count(*) FROM bus_dead_letters"
                                                   " WHERE retry_requested"),
                     1);
    (void) snprintf(path, sizeof path, "/dead-letters/%" JSON_INTEGER_FORMAT, id);
    answer = s_http_expect(service, "DELETE", path, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(answer, "id")), id);
    assert_string_equal(json_string_value(json_object_get(answer, "status")), "discarded");
    json_decref(answer);
    assert_int_equal(s_query_number(fixture->db_a, "SELECT count(*) FROM bus_dead_letters"), 0);

    //  Unknown ids, and ids that are not positive integers.
    error = s_http_expect(service, "DELETE", path, NULL, 404);
    s_assert_error(error, "not_found", NULL);
    json_decref(error);
    error = s_http_expect(service, "POST", "/dead-letters/999999/retry", NULL, 404);
    s_assert_error(error, "not_found", NULL);
    json_decref(error);
    const char *bad_paths[] = {"/dead-letters/abc/retry", "/dead-letters/0/retry",
                               "/dead-letters/-1/retry", "/dead-letters/99999999999999999999/retry",
                               "/dead-letters/1x/retry"};
    for (size_t index = 0; index < sizeof bad_paths / sizeof bad_paths[0]; index++) {
        error = s_http_expect(service, "POST", bad_paths[index], NULL, 400);
        s_assert_error(error, "invalid_value", "id");
        json_decref(error);
    }
    error = s_http_expect(service, "DELETE", "/dead-letters/abc", NULL, 400);
    s_assert_error(error, "invalid_value", "id");
    json_decref(error);
    PQfinish(conn);
}

//  --------------------------------------------------------------------------
//  Destroy while a unit is in flight: its request still gets its 201,
//  requests that arrive meanwhile get 503 (also those that submit no
//  unit), then the service exits.

typedef struct {
    bus_service_t *service; //  borrowed
    control_t *control;     //  borrowed
    long status;            //  result: the POST's status
    long late_status;       //  result: the POST sent while draining
    long late_get_status;   //  result: a GET of a route without units, while draining
    bool saw_stopping;      //  result: /readyz said "shutting down"
} drain_case_t;

static void *
s_post_thing(void *arg)
{
    drain_case_t *drain = arg;
    ts_http_reply_t reply = s_http(drain->service, "POST", "/things", "{\"name\": \"held\"}");
    drain->status = reply.status;
    ts_http_reply_free(&reply);
    return NULL;
}

static bool
s_readyz_stopping(void *arg)
{
    ts_http_reply_t reply = s_http(arg, "GET", "/readyz", NULL);
    bool stopping = reply.status == 503 && reply.body && strstr(reply.body, "shutting down");
    ts_http_reply_free(&reply);
    return stopping;
}

//  While the main thread is in bus_service_destroy: see the drain start,
//  send a late request, then let the held unit go.
static void *
s_drain_watch(void *arg)
{
    drain_case_t *drain = arg;
    drain->saw_stopping = ts_wait_until(s_readyz_stopping, drain->service, WAIT_MS);
    ts_http_reply_t reply = s_http(drain->service, "POST", "/things", "{\"name\": \"late\"}");
    drain->late_status = reply.status;
    ts_http_reply_free(&reply);
    reply = s_http(drain->service, "GET", "/dead-letters", NULL);
    drain->late_get_status = reply.status;
    ts_http_reply_free(&reply);
    s_control_release(drain->control);
    return NULL;
}

static void
test_destroy_drains_units_in_flight(void **state)
{
    fixture_t *fixture = *state;
    bus_service_t *service = s_start(fixture, 0, &s_things_def, fixture->db_a, "", NULL, NULL);
    assert_non_null(service);
    assert_true(ts_wait_until(s_is_ready, service, WAIT_MS));
    fixture->control.hold = true;

    drain_case_t drain = {.service = service, .control = &fixture->control};
    pthread_t poster, watcher;
    assert_int_equal(pthread_create(&poster, NULL, s_post_thing, &drain), 0);
    assert_true(ts_wait_until(s_control_held, &fixture->control, WAIT_MS));
    assert_int_equal(pthread_create(&watcher, NULL, s_drain_watch, &drain), 0);
    bus_service_destroy(&fixture->hosted[0].service);
    assert_int_equal(pthread_join(watcher, NULL), 0);
    assert_int_equal(pthread_join(poster, NULL), 0);

    assert_true(drain.saw_stopping);
    assert_int_equal(drain.late_status, 503);
    assert_int_equal(drain.late_get_status, 503); //  refused before its handler ran
    assert_int_equal(drain.status, 201);
    assert_int_equal(s_query_number(fixture->db_a, "SELECT count(*) FROM things"), 1);
}

//  --------------------------------------------------------------------------
//  A unit still in flight when SHUTDOWN_TIMEOUT_MS passes: the stream
//  finishes it, then its done callback runs with BUS_CLOSED (outcome
//  unknown) and answers; nothing leaks, destroy returns.

static void
test_drain_timeout(void **state)
{
    fixture_t *fixture = *state;
    const char *extra[] = {"--shutdown-timeout-ms", "100", NULL};
    bus_service_t *service = s_start(fixture, 0, &s_things_def, fixture->db_a, "", extra, NULL);
    assert_non_null(service);
    assert_true(ts_wait_until(s_is_ready, service, WAIT_MS));
    fixture->control.hold = true;
    fixture->control.hold_ms = 1000;

    drain_case_t drain = {.service = service, .control = &fixture->control};
    pthread_t poster;
    assert_int_equal(pthread_create(&poster, NULL, s_post_thing, &drain), 0);
    assert_true(ts_wait_until(s_control_held, &fixture->control, WAIT_MS));
    bus_service_destroy(&fixture->hosted[0].service);
    assert_int_equal(pthread_join(poster, NULL), 0);
    assert_int_equal(drain.status, 503);
}

//  --------------------------------------------------------------------------
//  Start failures: the exit codes of bus_service_new.

static void
test_start_failures(void **state)
{
    fixture_t *fixture = *state;
    int exit_code = -1;
    assert_null(s_start(fixture, 0, &s_failing_def, fixture->db_a, "", NULL, &exit_code));
    assert_int_equal(exit_code, SVC_EXIT_FAILURE);

    //  HTTP address taken.
    bus_service_t *first = s_start(fixture, 1, &s_things_def, fixture->db_a, "", NULL, NULL);
    assert_non_null(first);
    char taken[32];
    (void) snprintf(taken, sizeof taken, "127.0.0.1:%d", bus_service_http_port(first));
    const char *extra[] = {"--http-addr", taken, NULL};
    assert_null(s_start(fixture, 2, &s_things_def, fixture->db_b, "", extra, &exit_code));
    assert_int_equal(exit_code, SVC_EXIT_BIND);

    //  A replica index outside the replica count.
    const char *replicas[] = {"--replica-index", "2", "--replica-count", "2", NULL};
    assert_null(s_start(fixture, 3, &s_things_def, fixture->db_b, "", replicas, &exit_code));
    assert_int_equal(exit_code, SVC_EXIT_CONFIG);
}

//  --------------------------------------------------------------------------
//  bus_service_main in a child process.

//  Run this binary with --service-main and `args`; stdout and stderr go
//  to `output` (a file path), or /dev/null. Returns the child's pid.
static pid_t
s_main_spawn(const char *const *args, const char *output)
{
    const char *argv[16] = {"bus_service_test", "--service-main"};
    int argc = 2;
    for (int index = 0; args[index]; index++) {
        argv[argc++] = args[index];
    }
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int fd = open(output ? output : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv("/proc/self/exe", (char **) argv);
        _exit(127);
    }
    return child;
}

//  A whole (small) file as a string; caller owns it.
static char *
s_file_read(const char *path)
{
    zchunk_t *chunk = zchunk_slurp(path, 0);
    assert_non_null(chunk);
    char *text = zchunk_strdup(chunk);
    zchunk_destroy(&chunk);
    return text;
}

typedef struct {
    pid_t pid;  //  the child
    int status; //  its wait status, once reaped
} child_t;

static bool
s_child_exited(void *arg)
{
    child_t *child = arg;
    return waitpid(child->pid, &child->status, WNOHANG) == child->pid;
}

//  Wait for the child to exit; returns its exit code, or -1.
static int
s_main_wait(pid_t pid)
{
    child_t child = {.pid = pid};
    if (!ts_wait_until(s_child_exited, &child, WAIT_MS)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return WIFEXITED(child.status) ? WEXITSTATUS(child.status) : -1;
}

typedef struct {
    char url[64]; //  the child's /readyz
} readyz_t;

static bool
s_readyz_ok(void *arg)
{
    readyz_t *readyz = arg;
    ts_http_reply_t reply;
    if (ts_http_request("GET", readyz->url, NULL, NULL, 0, 1000, &reply) != 0) {
        return false;
    }
    bool ok = reply.status == 200;
    ts_http_reply_free(&reply);
    return ok;
}

static void
test_main(void **state)
{
    fixture_t *fixture = *state;
    char *dir = ts_tmpdir_new();
    char *output = zsys_sprintf("%s/output", dir);
    const char *help[] = {"--help", NULL};
    assert_int_equal(s_main_wait(s_main_spawn(help, output)), SVC_EXIT_OK);
    char *text = s_file_read(output);
    assert_non_null(strstr(text, "--database-url"));
    assert_non_null(strstr(text, "--things-control"));
    assert_non_null(strstr(text, "HTTP_ADDR      127.0.0.1:0"));
    zstr_free(&text);
    const char *unknown[] = {"--no-such-option", "1", NULL};
    assert_int_equal(s_main_wait(s_main_spawn(unknown, output)), SVC_EXIT_CONFIG);
    text = s_file_read(output);
    assert_non_null(strstr(text, "no-such-option"));
    zstr_free(&text);
    const char *range[] = {"--partitions", "0", NULL};
    assert_int_equal(s_main_wait(s_main_spawn(range, NULL)), SVC_EXIT_CONFIG);
    const char *replicas[] = {"--replica-index", "1", NULL};
    assert_int_equal(s_main_wait(s_main_spawn(replicas, output)), SVC_EXIT_CONFIG);
    text = s_file_read(output);
    assert_non_null(strstr(text, "REPLICA_INDEX"));
    zstr_free(&text);
    zstr_free(&output);
    ts_tmpdir_remove(&dir);

    //  A real run, ended by SIGTERM.
    char address[32];
    readyz_t readyz;
    int port = s_closed_port();
    (void) snprintf(address, sizeof address, "127.0.0.1:%d", port);
    (void) snprintf(readyz.url, sizeof readyz.url, "http://127.0.0.1:%d/readyz", port);
    const char *run[] = {"--http-addr", address,          "--database-url",
                         fixture->db_a, "--pub-endpoint", "tcp://127.0.0.1:*",
                         NULL};
    pid_t child = s_main_spawn(run, NULL);
    assert_true(ts_wait_until(s_readyz_ok, &readyz, WAIT_MS));
    assert_int_equal(kill(child, SIGTERM), 0);
    assert_int_equal(s_main_wait(child), SVC_EXIT_OK);
}

int
main(int argc, char *argv[])
{
    if (argc >= 2 && streq(argv[1], "--service-main")) {
        return bus_service_main(&s_things_def, argc - 1, argv + 1);
    }
    zsys_set_logstream(stderr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_subscriber_applies_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_database_unreachable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_query_connection_recovers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dead_letters, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_drains_units_in_flight, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_drain_timeout, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_start_failures, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_main, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
