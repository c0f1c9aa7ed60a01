/*  =========================================================================
    shim_test_support - bridged mode as real processes, and the .NET side

    The executables, python3 (Debian's, which has pika), mt_peer.py and
    scripts/lib.sh come from the build (SHIM_TS_* definitions in
    CMakeLists.txt). Helpers that cannot do their job fail the test with a
    message on stderr, as tests/support does.
    =========================================================================
*/
#include <czmq.h>
#include <sys/stat.h>

#undef NDEBUG
#include <assert.h>

#include "shim_test_support.h"
#include "svc_uuid.h"
#include "ts.h"

static const char *s_names[] = {"order", "inventory", "billing", "shim"};
static const char *s_paths[] = {SHIM_TS_ORDER_SERVICE, SHIM_TS_INVENTORY_SERVICE,
                                SHIM_TS_BILLING_SERVICE, SHIM_TS_BROKER_SHIM};

//  The seven .NET type names, in contract order, and our types.
static const char *s_types[][2] = {
    {"OrderCreated", "OrderCreatedEvent"},   {"OrderCancelled", "OrderCancelledEvent"},
    {"StockReserved", "StockReservedEvent"}, {"StockRejected", "StockRejectedEvent"},
    {"StockReleased", "StockReleasedEvent"}, {"PaymentStarted", "PaymentStartedEvent"},
    {"PaymentVoided", "PaymentVoidedEvent"}};

static void
s_fail(const char *what)
{
    (void) fprintf(stderr, "shim_test_support: %s\n", what);
    abort();
}

//  --------------------------------------------------------------------------

void
shim_ts_suffix(char suffix[SHIM_TS_SUFFIX_SIZE])
{
    svc_uuid_t random;
    svc_uuid_v4(&random);
    for (size_t index = 0; index < 8; index++) {
        (void) snprintf(suffix + 2 * index, 3, "%02x", random.bytes[index]);
    }
}

char *
shim_ts_exchange(const char *prefix, const char *type_name)
{
    return zsys_sprintf("%s.Contracts:%s", prefix, type_name);
}

char *
shim_ts_map(const char *prefix)
{
    char *map = strdup("");
    for (size_t index = 0; index < sizeof s_types / sizeof s_types[0]; index++) {
        char *exchange = shim_ts_exchange(prefix, s_types[index][1]);
        char *longer = zsys_sprintf("%s%s%s=%s@%s", map, index ? ", " : "", s_types[index][0],
                                    s_types[index][1], exchange);
        zstr_free(&exchange);
        zstr_free(&map);
        map = longer;
    }
    return map;
}

//  --------------------------------------------------------------------------

shim_ts_service_t *
shim_ts_service_new(shim_ts_which_t which, const char *log_dir)
{
    assert(log_dir);
    shim_ts_service_t *self = zmalloc(sizeof *self);
    self->name = s_names[which];
    self->stream = zsys_sprintf("%s-0", self->name);
    self->db = ts_pg_create_db();
    self->conn = PQconnectdb(self->db);
    if (PQstatus(self->conn) != CONNECTION_OK) {
        s_fail("cannot connect to a fresh database");
    }
    (void) mkdir(log_dir, 0700);
    char *log_path = zsys_sprintf("%s/%s.log", log_dir, self->name);
    self->proc = ts_proc_new(s_paths[which], NULL, NULL, log_path);
    zstr_free(&log_path);
    for (bool clash = true; clash;) {
        self->http_port = ts_proc_port_new(1);
        int pub_port = ts_proc_port_new(2);
        clash = self->http_port == pub_port || self->http_port == pub_port + 1;
        zstr_free(&self->pub);
        self->pub = zsys_sprintf("tcp://127.0.0.1:%d", pub_port);
    }
    self->base_url = zsys_sprintf("http://127.0.0.1:%d", self->http_port);
    char *http_addr = zsys_sprintf("127.0.0.1:%d", self->http_port);
    shim_ts_service_set(self, "HTTP_ADDR", http_addr);
    zstr_free(&http_addr);
    shim_ts_service_set(self, "PUB_ENDPOINT", self->pub);
    shim_ts_service_set(self, "DATABASE_URL", self->db);
    shim_ts_service_set(self, "STREAM", self->stream);
    shim_ts_service_set(self, "PUBLISHERS", "");
    shim_ts_service_set(self, "REPLICA_INDEX", "0");
    shim_ts_service_set(self, "REPLICA_COUNT", "1");
    if (which == SHIM_TS_SHIM) {
        shim_ts_service_set(self, "LOG_LEVEL", "debug");
    }
    return self;
}

void
shim_ts_service_destroy(shim_ts_service_t **self_p)
{
    assert(self_p);
    shim_ts_service_t *self = *self_p;
    if (!self) {
        return;
    }
    ts_proc_destroy(&self->proc);
    PQfinish(self->conn);
    ts_pg_drop_db(&self->db);
    zstr_free(&self->base_url);
    zstr_free(&self->pub);
    zstr_free(&self->stream);
    freen(self);
    *self_p = NULL;
}

void
shim_ts_service_set(shim_ts_service_t *self, const char *name, const char *value)
{
    assert(self);
    ts_proc_setenv(self->proc, name, value);
}

void
shim_ts_services_start(shim_ts_service_t *const *services)
{
    assert(services);
    for (size_t index = 0; services[index]; index++) {
        ts_proc_start(services[index]->proc);
    }
    for (size_t index = 0; services[index]; index++) {
        char *url = shim_ts_url(services[index], "/readyz");
        int rc = ts_proc_wait_ready(services[index]->proc, url, SHIM_TS_READY_MS);
        zstr_free(&url);
        if (rc != 0) {
            s_fail("a service did not become ready (its log tail is above)");
        }
    }
}

char *
shim_ts_url(const shim_ts_service_t *self, const char *path)
{
    assert(self);
    assert(path);
    return zsys_sprintf("%s%s", self->base_url, path);
}

double
shim_ts_metric(const shim_ts_service_t *self, const char *series)
{
    assert(self);
    assert(series);
    char *url = shim_ts_url(self, "/metrics");
    ts_http_reply_t reply;
    double value = -1;
    if (ts_http_request("GET", url, NULL, NULL, 0, 5000, &reply) == 0 && reply.status == 200) {
        size_t length = strlen(series);
        for (char *line = reply.body; line && *line; line = strchr(line, '\n')) {
            line += *line == '\n';
            if (strncmp(line, series, length) == 0 && line[length] == ' ') {
                value = strtod(line + length + 1, NULL);
                break;
            }
        }
    }
    ts_http_reply_free(&reply);
    zstr_free(&url);
    return value;
}

long
shim_ts_sql_number(const shim_ts_service_t *self, const char *sql, const char *const *params)
{
    assert(self);
    assert(sql);
    int count = 0;
    while (params && params[count]) {
        count++;
    }
    PGresult *result = PQexecParams(self->conn, sql, count, NULL, params, NULL, NULL, 0);
    long value = -1;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1 &&
        !PQgetisnull(result, 0, 0)) {
        value = strtol(PQgetvalue(result, 0, 0), NULL, 10);
    } else if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        (void) fprintf(stderr, "shim_test_support: %s: %s", sql, PQresultErrorMessage(result));
    }
    PQclear(result);
    return value;
}

//  --------------------------------------------------------------------------
//  Processes to completion.

static bool
s_exited(void *arg)
{
    return !ts_proc_running(arg);
}

int
shim_ts_run(const char *path, const char *const *args, const char *log_path, int timeout_ms)
{
    assert(path);
    assert(log_path);
    ts_proc_t *proc = ts_proc_new(path, args, NULL, log_path);
    ts_proc_start(proc);
    int exit_code = TS_PROC_TIMEOUT;
    if (ts_wait_until(s_exited, proc, timeout_ms)) {
        exit_code = ts_proc_exit_code(proc);
    }
    ts_proc_destroy(&proc);
    return exit_code;
}

//  --------------------------------------------------------------------------
//  JSON lines.

json_t *
shim_ts_lines(const char *path, const char *key)
{
    assert(path);
    json_t *lines = json_array();
    FILE *file = fopen(path, "r");
    if (!file) {
        return lines;
    }
    char *line = NULL;
    size_t capacity = 0;
    while (getline(&line, &capacity, file) > 0) {
        json_t *object = line[0] == '{' ? json_loads(line, 0, NULL) : NULL;
        if (object && (!key || json_object_get(object, key))) {
            json_array_append(lines, object);
        }
        json_decref(object);
    }
    free(line);
    (void) fclose(file);
    return lines;
}

//  --------------------------------------------------------------------------
//  mt_peer.py.

typedef struct {
    const char *path; //  the consumer's output
} s_ready_t;

static bool
s_consumer_ready(void *arg)
{
    json_t *lines = shim_ts_lines(((s_ready_t *) arg)->path, "ready");
    bool ready = json_array_size(lines) > 0;
    json_decref(lines);
    return ready;
}

ts_proc_t *
shim_ts_peer_consume(const char *url,
                     const char *endpoint,
                     const char *const *exchanges,
                     const char *out_path,
                     bool compact,
                     const char *log_path)
{
    assert(url && endpoint && exchanges && out_path && log_path);
    const char *args[32] = {SHIM_TS_PEER, "consume", "--url", url,
                            "--endpoint", endpoint,  "--out", out_path};
    size_t count = 8;
    for (size_t index = 0; exchanges[index]; index++) {
        assert(count + 3 < sizeof args / sizeof args[0]);
        args[count++] = "--bind";
        args[count++] = exchanges[index];
    }
    if (compact) {
        args[count++] = "--compact";
    }
    args[count] = NULL;
    ts_proc_t *proc = ts_proc_new(SHIM_TS_PYTHON, args, NULL, log_path);
    ts_proc_start(proc);
    s_ready_t ready = {out_path};
    if (!ts_wait_until(s_consumer_ready, &ready, SHIM_TS_READY_MS)) {
        ts_proc_log_dump(proc, "mt_peer consume did not start", 30);
        s_fail("the pika consumer did not start");
    }
    return proc;
}

void
shim_ts_peer_publish(const char *url, const json_t *messages, const char *dir)
{
    assert(url && messages && dir);
    char *spec = zsys_sprintf("%s/publish-%08x.jsonl", dir, (unsigned) randof(0x7fffffff));
    FILE *file = fopen(spec, "w");
    assert(file);
    size_t index;
    json_t *message;
    json_array_foreach(messages, index, message)
    {
        char *line = json_dumps(message, JSON_COMPACT);
        (void) fprintf(file, "%s\n", line);
        free(line);
    }
    (void) fclose(file);
    char *log_path = zsys_sprintf("%s/mt_peer.log", dir);
    const char *args[] = {SHIM_TS_PEER, "publish", "--url", url, "--spec", spec, NULL};
    int rc = shim_ts_run(SHIM_TS_PYTHON, args, log_path, 30000);
    if (rc != 0) {
        (void) fprintf(stderr, "mt_peer publish exited %d (log %s)\n", rc, log_path);
        s_fail("publishing with pika failed");
    }
    zstr_free(&log_path);
    zstr_free(&spec);
}

json_t *
shim_ts_peer_get(const char *url, const char *queue, const char *dir)
{
    assert(url && queue && dir);
    char *out = zsys_sprintf("%s/get-%08x.jsonl", dir, (unsigned) randof(0x7fffffff));
    char *log_path = zsys_sprintf("%s/mt_peer.log", dir);
    const char *args[] = {SHIM_TS_PEER, "get", "--url", url, "--queue", queue, "--out", out, NULL};
    if (shim_ts_run(SHIM_TS_PYTHON, args, log_path, 30000) != 0) {
        s_fail("mt_peer get failed (see mt_peer.log)");
    }
    json_t *lines = shim_ts_lines(out, NULL);
    zstr_free(&log_path);
    zstr_free(&out);
    return lines;
}

bool
shim_ts_peer_queue_exists(const char *url, const char *queue, const char *dir)
{
    assert(url && queue && dir);
    char *log_path = zsys_sprintf("%s/mt_peer.log", dir);
    const char *args[] = {SHIM_TS_PEER, "exists", "--url", url, "--queue", queue, NULL};
    int rc = shim_ts_run(SHIM_TS_PYTHON, args, log_path, 30000);
    zstr_free(&log_path);
    if (rc != 0 && rc != 3) {
        s_fail("mt_peer exists failed (see mt_peer.log)");
    }
    return rc == 0;
}

void
shim_ts_peer_delete(const char *url,
                    const char *const *queues,
                    const char *const *exchanges,
                    const char *dir)
{
    assert(url && dir);
    const char *args[64] = {SHIM_TS_PEER, "delete", "--url", url};
    size_t count = 4;
    for (size_t index = 0; queues && queues[index] && count < 60; index++) {
        args[count++] = "--queue";
        args[count++] = queues[index];
    }
    for (size_t index = 0; exchanges && exchanges[index] && count < 60; index++) {
        args[count++] = "--exchange";
        args[count++] = exchanges[index];
    }
    args[count] = NULL;
    char *log_path = zsys_sprintf("%s/mt_peer.log", dir);
    if (shim_ts_run(SHIM_TS_PYTHON, args, log_path, 30000) != 0) {
        s_fail("mt_peer delete failed (see mt_peer.log)");
    }
    zstr_free(&log_path);
}

//  --------------------------------------------------------------------------
//  A private RabbitMQ node.

//  Run "source lib.sh; <command> <dir> [argument]" in bash.
static int
s_lib(const char *dir, const char *command, const char *argument)
{
    char *script = zsys_sprintf("source '%s' && %s \"$1\" %s", SHIM_TS_LIB_SH, command,
                                argument ? argument : "");
    char *log_path = zsys_sprintf("%s.log", dir);
    const char *args[] = {"-c", script, "lib.sh", dir, NULL};
    int rc = shim_ts_run("/bin/bash", args, log_path, 120000);
    zstr_free(&log_path);
    zstr_free(&script);
    return rc;
}

//  Nodes running: a test that fails leaves its node behind (cmocka leaves
//  the test function at the failed assertion), so whatever is still here
//  when the process exits is stopped then.
static zlistx_t *s_nodes = NULL;

static void
s_nodes_stop(void)
{
    shim_ts_rabbit_t *node = s_nodes ? zlistx_first(s_nodes) : NULL;
    while (node) {
        shim_ts_rabbit_destroy(&node);
        node = zlistx_first(s_nodes);
    }
    zlistx_destroy(&s_nodes);
}

shim_ts_rabbit_t *
shim_ts_rabbit_new(void)
{
    shim_ts_rabbit_t *self = zmalloc(sizeof *self);
    char *parent = ts_tmpdir_new();
    //  The node runs as the rabbitmq user, who must reach its directory.
    if (chmod(parent, 0711) != 0) {
        s_fail("cannot open the temporary directory to the rabbitmq user");
    }
    self->dir = parent;
    char *node = zsys_sprintf("%s/rabbit", self->dir);
    if (s_lib(node, "rabbit_start", NULL) != 0) {
        (void) fprintf(stderr, "rabbit_start failed: see %s.log\n", node);
        s_fail("the test's own RabbitMQ did not start");
    }
    char *url_path = zsys_sprintf("%s/amqp.url", node);
    FILE *file = fopen(url_path, "r");
    char line[512] = "";
    if (!file || !fgets(line, sizeof line, file)) {
        s_fail("no amqp.url from rabbit_start");
    }
    (void) fclose(file);
    line[strcspn(line, "\r\n")] = '\0';
    self->url = strdup(line);
    zstr_free(&url_path);
    zstr_free(&node);
    if (!s_nodes) {
        s_nodes = zlistx_new();
        atexit(s_nodes_stop);
    }
    zlistx_add_end(s_nodes, self);
    return self;
}

void
shim_ts_rabbit_ctl(shim_ts_rabbit_t *self, const char *command)
{
    assert(self);
    assert(command);
    char *node = zsys_sprintf("%s/rabbit", self->dir);
    //  s_rabbit_ctl: rabbitmqctl with the node's own environment.
    if (s_lib(node, "s_rabbit_ctl", command) != 0) {
        (void) fprintf(stderr, "rabbitmqctl %s failed: see %s.log\n", command, node);
        s_fail("rabbitmqctl failed");
    }
    zstr_free(&node);
}

void
shim_ts_rabbit_destroy(shim_ts_rabbit_t **self_p)
{
    assert(self_p);
    shim_ts_rabbit_t *self = *self_p;
    if (!self) {
        return;
    }
    if (s_nodes && zlistx_find(s_nodes, self)) {
        zlistx_delete(s_nodes, NULL);
    }
    char *node = zsys_sprintf("%s/rabbit", self->dir);
    if (s_lib(node, "rabbit_stop", NULL) != 0) {
        (void) fprintf(stderr, "rabbit_stop failed: see %s.log\n", node);
    }
    zstr_free(&node);
    ts_tmpdir_remove(&self->dir);
    zstr_free(&self->url);
    freen(self);
    *self_p = NULL;
}
