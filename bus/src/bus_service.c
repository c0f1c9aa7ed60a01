/*  =========================================================================
    bus_service - the process host every service shares

    Three threads of ours make a service: the caller's (bus_service_new
    and _destroy, bus_service_main's signal wait), the service thread (an
    actor running one zloop: HTTP, completions of submitted units, the
    query connection, the readiness timer; every hook of the definition
    but the handler runs here) and the bus thread (a small actor that owns
    the bus_stream and bus_subscriber handles). The bus thread exists
    because bus_stream_ready and bus_subscriber_ready ask their actors and
    wait, and the writer answers only between batches: asked from the
    service thread, a slow batch would stall HTTP, /healthz included. The
    service thread sends CHECK and reads CHECKED later in its loop.

    Submissions: each bus_service_submit allocates a small record that is
    the unit's tag; the completion carries it back, and the record says
    which done callback to call. The records also count what is in flight
    for the shutdown drain.

    The query connection is made once, blocking, at start (so def->start
    can use it), and then again without blocking: PQconnectStartParams
    and PQconnectPoll driven by the loop, with our own deadline, so a
    database that drops packets never stalls HTTP.

    The standard options and bus_service_main live in bus_service_main.c,
    the dead-letter admin routes in bus_service_admin.c.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_db.h"
#include "bus_envelope.h"
#include "bus_inbox.h"
#include "bus_keys.h"
#include "bus_service.h"
#include "bus_service_admin.h"
#include "bus_service_main.h"

#include <stdatomic.h>

//  After the last unit in flight at shutdown was answered, HTTP keeps
//  running this long so that the answers leave before the server closes
//  (svc_http_destroy waits only for the requests it answers itself).
#define S_FLUSH_MS 50

//  Labels of bus_service_units_total, indexed by bus_rc_t.
static const char *const s_outcome_labels[] = {
    "ok",      "malformed",      "unknown_type",   "too_large", "db_unavailable", "duplicate",
    "trimmed", "unknown_stream", "handler_failed", "closed",    "not_found"};
#define S_OUTCOMES (sizeof s_outcome_labels / sizeof s_outcome_labels[0])

//  One submitted unit, from bus_service_submit to its completion: the tag.
typedef struct {
    bus_service_done_fn *done; //  called on completion
    void *done_arg;            //  borrowed until then
    void *handle;              //  our entry in the service's submissions
} s_submission_t;

struct bus_service {
    //  Set before the actors start, then read-only (any thread).
    const bus_service_def_t *def;      //  borrowed, static
    const svc_config_t *config;        //  borrowed, outlives us
    svc_log_t *log;                    //  borrowed, outlives us
    svc_metrics_t *metrics;            //  borrowed, outlives us
    const char *http_addr;             //  HTTP_ADDR or the definition's (borrowed)
    const char *database;              //  DATABASE_URL or the definition's (borrowed)
    const char *pub_endpoint;          //  PUB_ENDPOINT or the definition's (borrowed)
    const char *publishers;            //  PUBLISHERS or the definition's, "" = none (borrowed)
    char *stream_id;                   //  the stream we publish (owned)
    char *app_name;                    //  application_name of the query connection (owned)
    int64_t shutdown_ms;               //  SHUTDOWN_TIMEOUT_MS
    bus_stream_config_t stream_config; //  for the bus thread (strings borrowed)
    bus_subscriber_config_t subscriber_config; //  for the bus thread (strings borrowed)
    svc_counter_t *outcomes[S_OUTCOMES];       //  bus_service_units_total by outcome
    bus_auth_t *auth;                          //  the ZAP handler, or NULL (owned, caller)
    zactor_t *actor;                           //  the service thread (owned, caller)
    int exit_code;                             //  how the start went (set before the signal)
    int http_port;                             //  bound HTTP port (set before the signal)
    int pub_port;                              //  bound PUB port (set before the signal)
    bool subscribes;                           //  types and publishers are both set
    atomic_bool ready;                         //  what /readyz answers (any thread)

    //  The service thread's.
    zsock_t *pipe;            //  our end of the actor pipe (borrowed)
    zloop_t *loop;            //  the one loop (owned)
    zactor_t *bus;            //  the bus thread (owned)
    svc_http_t *http;         //  the HTTP server (owned)
    bus_producer_t *producer; //  our connection to the writer (owned)
    bus_stream_t *stream;     //  the stream, owned by the bus thread (borrowed)
    PGconn *conn;             //  the query connection, or NULL while down (owned)
    PGconn *connecting;       //  a reconnect in progress, or NULL (owned)
    void *state;              //  what def->start returned
    zlistx_t *submissions;    //  s_submission_t in flight (owned records)
    char *reason;             //  the last not-ready reason, or NULL (owned)
    int conn_backoff_ms;      //  next reconnect delay
    int conn_timer;           //  pending reconnect timer, or -1
    int connecting_fd;        //  the socket the loop watches for the reconnect, or -1
    int connect_deadline;     //  the timer that ends the reconnect, or -1
    int drain_timer;          //  SHUTDOWN_TIMEOUT_MS timer, or -1
    bool conn_was_lost;       //  the last attempt failed (log recovery once)
    bool started;             //  def->start succeeded (stop is due)
    bool check_pending;       //  a CHECK is out to the bus thread
    bool stream_ready;        //  the last CHECKED: stream
    bool subscriber_ready;    //  the last CHECKED: subscriber (true without one)
    bool was_ready;           //  ready at least once since start
    bool stopping;            //  shutdown began: no new units
    bool flushing;            //  the S_FLUSH_MS timer that ends the loop runs
};

//  --------------------------------------------------------------------------
//  Configuration

//  Fill the settings of `self` from the configuration and the definition.
static void
s_settings_load(bus_service_t *self)
{
    const bus_service_def_t *def = self->def;
    const svc_config_t *config = self->config;
    self->http_addr = bus_service_option_or(config, BUS_SERVICE_HTTP_ADDR, def->http_addr);
    self->database = bus_service_option_or(config, BUS_SERVICE_DATABASE_URL, def->database);
    self->pub_endpoint = bus_service_option_or(config, BUS_SERVICE_PUB_ENDPOINT, def->pub_endpoint);
    self->publishers = bus_service_option_or(config, BUS_SERVICE_PUBLISHERS,
                                             def->publishers ? def->publishers : "");
    self->stream_id = bus_service_stream_of(def, config);
    self->app_name = zsys_sprintf("%s-query", self->stream_id);
    self->shutdown_ms = svc_config_int(config, "SHUTDOWN_TIMEOUT_MS");
    self->stream_config = (bus_stream_config_t){
        .stream = self->stream_id,
        .conninfo = self->database,
        .pub_endpoint = self->pub_endpoint,
        .batch_max = (int) svc_config_int(config, "BATCH_MAX"),
        .partitions = (uint32_t) svc_config_int(config, "PARTITIONS"),
        .retention_events = svc_config_int(config, "RETENTION_EVENTS"),
        .curve_server_cert = bus_service_option_path(config, "CURVE_SERVER_SECRET"),
        .log = self->log,
        .metrics = self->metrics,
        .component = def->name,
        .migrations = def->migrations};
    self->subscribes = def->types && *self->publishers;
    self->subscriber_config = (bus_subscriber_config_t){
        .consumer = def->name,
        .conninfo = self->database,
        .publishers = self->publishers,
        .types = def->types,
        .replica_index = (uint32_t) svc_config_int(config, "REPLICA_INDEX"),
        .replica_count = (uint32_t) svc_config_int(config, "REPLICA_COUNT"),
        .partitions = (uint32_t) svc_config_int(config, "PARTITIONS"),
        .handler = def->handler,
        .batch_handler = def->batch_handler,
        .writer_for_appends = def->writer_for_appends,
        .commit_async = def->commit_async,
        .batch_max = def->apply_batch_max > 0 && !svc_config_is_set(config, "APPLY_BATCH_MAX")
                         ? def->apply_batch_max
                         : (int) svc_config_int(config, "APPLY_BATCH_MAX"),
        .max_attempts = (int) svc_config_int(config, "MAX_ATTEMPTS"),
        .ready_lag = svc_config_int(config, "READY_LAG"),
        .curve_client_cert = bus_service_option_path(config, "CURVE_CLIENT_SECRET"),
        .curve_server_public = bus_service_option_path(config, "CURVE_SERVER_PUBLIC"),
        .log = self->log,
        .metrics = self->metrics};
}

//  Start the ZAP handler and try the CURVE files on throwaway sockets, so a
//  bad file is SVC_EXIT_SECURITY before anything binds. Returns 0 or -1.
static int
s_curve_prepare(bus_service_t *self)
{
    const char *server_secret = self->stream_config.curve_server_cert;
    bus_keys_rc_t rc = BUS_KEYS_OK;
    const char *path = NULL;
    if (server_secret) {
        path = svc_config_str(self->config, "CURVE_ALLOW_DIR");
        self->auth = bus_auth_new(path, &rc);
        if (self->auth) {
            path = server_secret;
            zsock_t *probe = zsock_new(ZMQ_PUB);
            rc = bus_keys_server_apply(probe, server_secret);
            zsock_destroy(&probe);
        }
    }
    if (rc == BUS_KEYS_OK && self->subscriber_config.curve_client_cert) {
        path = self->subscriber_config.curve_client_cert;
        zsock_t *probe = zsock_new(ZMQ_SUB);
        rc = bus_keys_client_apply(probe, self->subscriber_config.curve_client_cert,
                                   self->subscriber_config.curve_server_public);
        zsock_destroy(&probe);
    }
    if (rc != BUS_KEYS_OK) {
        svc_log_error(self->log, "bus.service.curve.failed", "{s:s, s:s}", "path", path, "error",
                      bus_keys_strerror(rc));
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The bus thread: owns the stream and the subscriber, answers CHECK.
//  Commands are [name][pointer]; replies are [name][int][int][pointer].

static void
s_bus_reply(zsock_t *pipe, const char *name, int first, int second, void *pointer)
{
    zsock_send(pipe, "siip", name, first, second, pointer);
}

static void
s_bus_actor(zsock_t *pipe, void *args)
{
    (void) args;
    bus_stream_t *stream = NULL;
    bus_subscriber_t *subscriber = NULL;
    zsock_signal(pipe, 0);
    bool terminated = false;
    while (!terminated) {
        char *command = NULL;
        void *pointer = NULL;
        if (zsock_recv(pipe, "sp", &command, &pointer) != 0) {
            continue; //  interrupted: only the owner ends us, with $TERM
        }
        if (!command || streq(command, "$TERM")) {
            terminated = true;
        } else if (streq(command, "OPEN")) {
            stream = bus_stream_new((const bus_stream_config_t *) pointer);
            s_bus_reply(pipe, "OPENED", stream ? bus_stream_pub_port(stream) : -1, 0, stream);
        } else if (streq(command, "SUBSCRIBE")) {
            bus_subscriber_config_t *config = pointer;
            config->stream = stream;
            subscriber = bus_subscriber_new(config);
            s_bus_reply(pipe, "SUBSCRIBED", subscriber ? 0 : -1, 0, NULL);
        } else if (streq(command, "CHECK")) {
            bool stream_ready = stream && bus_stream_ready(stream);
            bool subscriber_ready = !subscriber || bus_subscriber_ready(subscriber);
            s_bus_reply(pipe, "CHECKED", stream_ready, subscriber_ready, NULL);
        } else if (streq(command, "UNSUBSCRIBE")) {
            bus_subscriber_destroy(&subscriber);
            s_bus_reply(pipe, "UNSUBSCRIBED", 0, 0, NULL);
        } else if (streq(command, "CLOSE")) {
            bus_stream_destroy(&stream);
            s_bus_reply(pipe, "CLOSED", 0, 0, NULL);
        } else {
            assert(false); //  only the service thread talks on this pipe
        }
        zstr_free(&command);
    }
    bus_subscriber_destroy(&subscriber);
    bus_stream_destroy(&stream);
}

//  Take a CHECKED reply into the readiness state.
static void
s_self_take_checked(bus_service_t *self, int stream_ready, int subscriber_ready)
{
    self->check_pending = false;
    self->stream_ready = stream_ready == 1;
    self->subscriber_ready = subscriber_ready == 1;
}

//  Send a command to the bus thread and wait for its reply `expected`
//  (a CHECKED met on the way is taken in). Returns the reply's first int
//  and its pointer in *pointer_out (may be NULL).
static int
s_self_bus_call(bus_service_t *self,
                const char *command,
                void *pointer,
                const char *expected,
                void **pointer_out)
{
    zsock_send(self->bus, "sp", command, pointer);
    while (true) {
        char *name = NULL;
        int first = 0, second = 0;
        void *reply_pointer = NULL;
        if (zsock_recv(self->bus, "siip", &name, &first, &second, &reply_pointer) != 0) {
            continue; //  interrupted; the bus thread always answers
        }
        bool done = streq(name, expected);
        if (streq(name, "CHECKED")) {
            s_self_take_checked(self, first, second);
        }
        zstr_free(&name);
        if (done) {
            if (pointer_out) {
                *pointer_out = reply_pointer;
            }
            return first;
        }
    }
}

//  --------------------------------------------------------------------------
//  The query connection. The first attempt blocks (at start, for at most
//  connect_timeout); reconnects run in the loop: PQconnectStartParams,
//  then PQconnectPoll each time its socket is ready, ended by our own
//  deadline (libpq enforces connect_timeout only in blocking connects).

//  Server notices on a connection made without bus_db_connect, as it does.
static void
s_notice(void *arg, const char *message)
{
    svc_log_debug((svc_log_t *) arg, "bus.db.notice", "{s:s}", "message", message);
}

static int s_self_handle_reconnect(zloop_t *loop, int timer_id, void *arg);

static void
s_self_schedule_reconnect(bus_service_t *self)
{
    if (self->conn_timer == -1) {
        int delay_ms = bus_db_backoff(&self->conn_backoff_ms);
        self->conn_timer =
            zloop_timer(self->loop, (size_t) delay_ms, 1, s_self_handle_reconnect, self);
    }
}

//  An attempt failed: log once per outage, retry after the backoff.
static void
s_self_conn_failed(bus_service_t *self, const char *error)
{
    if (!self->conn_was_lost) {
        svc_log_warn(self->log, "bus.service.db.unavailable", "{s:s, s:i}", "error", error,
                     "retry_ms", self->conn_backoff_ms);
    }
    self->conn_was_lost = true;
    s_self_schedule_reconnect(self);
}

//  An attempt succeeded.
static void
s_self_conn_made(bus_service_t *self, PGconn *conn)
{
    if (self->conn_was_lost) {
        svc_log_info(self->log, "bus.service.db.connected", NULL);
    }
    self->conn = conn;
    self->conn_was_lost = false;
    self->conn_backoff_ms = BUS_RECONNECT_MIN_MS;
}

//  The first attempt, blocking (bus_db_connect).
static void
s_self_connect_now(bus_service_t *self)
{
    char *error = NULL;
    PGconn *conn = bus_db_connect(self->database, self->app_name, self->log, &error);
    if (conn) {
        s_self_conn_made(self, conn);
    } else {
        s_self_conn_failed(self, error);
    }
    zstr_free(&error);
}

//  Stop watching the socket of the attempt in progress.
static void
s_self_connect_unwatch(bus_service_t *self)
{
    if (self->connecting_fd != -1) {
        zmq_pollitem_t item = {NULL, self->connecting_fd, 0, 0};
        zloop_poller_end(self->loop, &item);
        self->connecting_fd = -1;
    }
}

//  End the attempt in progress: made (conn) or failed.
static void
s_self_connect_end(bus_service_t *self, bool made)
{
    s_self_connect_unwatch(self);
    if (self->connect_deadline != -1) {
        zloop_timer_end(self->loop, self->connect_deadline);
        self->connect_deadline = -1;
    }
    PGconn *conn = self->connecting;
    self->connecting = NULL;
    if (made) {
        PQsetNoticeProcessor(conn, s_notice, self->log);
        s_self_conn_made(self, conn);
    } else {
        s_self_conn_failed(self, PQerrorMessage(conn));
        PQfinish(conn);
    }
}

static int s_self_handle_connect_io(zloop_t *loop, zmq_pollitem_t *item, void *arg);

//  Act on what PQconnectPoll said: done, failed, or wait for the socket.
static void
s_self_connect_step(bus_service_t *self, PostgresPollingStatusType status)
{
    s_self_connect_unwatch(self);
    if (status == PGRES_POLLING_OK || status == PGRES_POLLING_FAILED) {
        s_self_connect_end(self, status == PGRES_POLLING_OK);
        return;
    }
    int fd = PQsocket(self->connecting);
    short events = status == PGRES_POLLING_READING ? ZMQ_POLLIN : ZMQ_POLLOUT;
    zmq_pollitem_t item = {NULL, fd, events, 0};
    if (fd < 0 || zloop_poller(self->loop, &item, s_self_handle_connect_io, self) != 0) {
        s_self_connect_end(self, false);
        return;
    }
    self->connecting_fd = fd;
}

static int
s_self_handle_connect_io(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    bus_service_t *self = arg;
    s_self_connect_step(self, PQconnectPoll(self->connecting));
    return 0;
}

static int
s_self_handle_connect_deadline(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    bus_service_t *self = arg;
    self->connect_deadline = -1;
    s_self_connect_end(self, false);
    return 0;
}

//  The attempt's deadline: the conninfo's connect_timeout (libpq reads
//  values below 2 as 2, and 0 as none), else BUS_CONNECT_TIMEOUT_S.
static int
s_connect_timeout_ms(PGconn *conn)
{
    long seconds = atol(BUS_CONNECT_TIMEOUT_S);
    PQconninfoOption *options = PQconninfo(conn);
    for (PQconninfoOption *option = options; option && option->keyword; option++) {
        if (streq(option->keyword, "connect_timeout") && option->val && *option->val) {
            long value = atol(option->val);
            seconds = value <= 0 ? seconds : value < 2 ? 2 : value;
        }
    }
    PQconninfoFree(options);
    return (int) (seconds > INT_MAX / 1000 ? INT_MAX / 1000 : seconds) * 1000;
}

//  The backoff passed: start an attempt without blocking.
static int
s_self_handle_reconnect(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    bus_service_t *self = arg;
    self->conn_timer = -1;
    if (self->conn || self->connecting) {
        return 0;
    }
    //  As bus_db_connect, without blocking: connect_timeout and
    //  application_name first, so that the conninfo can override them.
    const char *keywords[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {BUS_CONNECT_TIMEOUT_S, self->app_name, self->database, NULL};
    PGconn *conn = PQconnectStartParams(keywords, values, 1);
    if (!conn || PQstatus(conn) == CONNECTION_BAD) {
        s_self_conn_failed(self, conn ? PQerrorMessage(conn) : "out of memory");
        PQfinish(conn);
        return 0;
    }
    self->connecting = conn;
    self->connect_deadline = zloop_timer(self->loop, (size_t) s_connect_timeout_ms(conn), 1,
                                         s_self_handle_connect_deadline, self);
    //  As the libpq manual says: begin as if PQconnectPoll said WRITING.
    s_self_connect_step(self, PGRES_POLLING_WRITING);
    return 0;
}

//  Drop the query connection and reconnect with backoff.
static void
s_self_conn_drop(bus_service_t *self, const char *why)
{
    if (self->conn) {
        svc_log_warn(self->log, "bus.service.db.lost", "{s:s, s:s}", "why", why, "error",
                     PQerrorMessage(self->conn));
        PQfinish(self->conn);
        self->conn = NULL;
        self->conn_was_lost = true;
        s_self_schedule_reconnect(self);
    }
}

//  An idle connection whose server went away has a readable socket, and
//  reading it fails: so we learn of it before a request does.
static void
s_self_conn_probe(bus_service_t *self)
{
    if (!self->conn) {
        return;
    }
    if (!PQconsumeInput(self->conn) || PQstatus(self->conn) != CONNECTION_OK) {
        s_self_conn_drop(self, "connection closed");
        return;
    }
    PGnotify *notify = PQnotifies(self->conn);
    while (notify) {
        PQfreemem(notify);
        notify = PQnotifies(self->conn);
    }
}

//  --------------------------------------------------------------------------
//  Readiness

//  Publish readiness and its reason; log changes.
static void
s_self_set_ready(bus_service_t *self, bool ready, const char *reason)
{
    bool was_ready = atomic_load(&self->ready);
    bool same_reason = self->reason && reason && streq(self->reason, reason);
    if (ready == was_ready && (ready || same_reason)) {
        return;
    }
    zstr_free(&self->reason);
    if (ready) {
        svc_log_info(self->log, "bus.service.ready", NULL);
    } else {
        self->reason = strdup(reason);
        //  Not ready while starting or to shut down is the plan, not a
        //  degradation.
        if (self->stopping || !self->was_ready) {
            svc_log_info(self->log, "bus.service.not_ready", "{s:s}", "reason", reason);
        } else {
            svc_log_warn(self->log, "bus.service.not_ready", "{s:s}", "reason", reason);
        }
    }
    svc_http_set_ready(self->http, ready, self->reason);
    atomic_store(&self->ready, ready);
    self->was_ready = self->was_ready || ready;
}

//  Recompute readiness from the last CHECKED, the query connection and
//  the definition's own hook; the reason names everything that is down.
static void
s_self_update_ready(bus_service_t *self)
{
    if (self->stopping) {
        s_self_set_ready(self, false, "shutting down");
        return;
    }
    const char *reasons[4];
    size_t count = 0;
    if (!self->conn) {
        reasons[count++] = "database unreachable";
    }
    if (!self->stream_ready) {
        reasons[count++] = "stream writer not ready";
    }
    if (!self->subscriber_ready) {
        reasons[count++] = "subscriber catching up";
    }
    const char *own_reason = NULL;
    if (self->def->ready && !self->def->ready(self, self->state, &own_reason)) {
        reasons[count++] = own_reason ? own_reason : "service not ready";
    }
    char reason[256] = "";
    for (size_t index = 0; index < count; index++) {
        size_t used = strlen(reason);
        (void) snprintf(reason + used, sizeof reason - used, "%s%s", index ? "; " : "",
                        reasons[index]);
    }
    s_self_set_ready(self, count == 0, reason);
}

//  Every BUS_SERVICE_READY_MS: probe the query connection, ask the bus
//  thread (unless the last question is still out), recompute.
static int
s_self_handle_ready_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    bus_service_t *self = arg;
    s_self_conn_probe(self);
    if (!self->check_pending && !self->stopping) {
        self->check_pending = true;
        zsock_send(self->bus, "sp", "CHECK", NULL);
    }
    s_self_update_ready(self);
    return 0;
}

//  The bus thread answered a CHECK sent by the timer.
static int
s_self_handle_bus(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    bus_service_t *self = arg;
    char *name = NULL;
    int first = 0, second = 0;
    void *pointer = NULL;
    if (zsock_recv(reader, "siip", &name, &first, &second, &pointer) == 0) {
        assert(streq(name, "CHECKED")); //  every other reply is awaited in a call
        s_self_take_checked(self, first, second);
        s_self_update_ready(self);
    }
    zstr_free(&name);
    return 0;
}

//  --------------------------------------------------------------------------
//  Completions of submitted units, and the shutdown drain

static int
s_self_handle_flushed(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    return -1; //  the last answers have had their time to leave
}

//  Shutting down and nothing left in flight: end the loop after S_FLUSH_MS,
//  so that the last answers leave (also those handlers gave at once).
static void
s_self_drained(bus_service_t *self)
{
    if (self->drain_timer != -1) {
        zloop_timer_end(self->loop, self->drain_timer);
        self->drain_timer = -1;
    }
    if (!self->flushing) {
        self->flushing = true;
        zloop_timer(self->loop, S_FLUSH_MS, 1, s_self_handle_flushed, self);
    }
}

static int
s_self_handle_completions(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    bus_service_t *self = arg;
    while (zsock_events(reader) & ZMQ_POLLIN) {
        bus_completion_t completion;
        if (bus_producer_recv(self->producer, &completion) != 0) {
            break;
        }
        s_submission_t *submission = completion.tag;
        zlistx_delete(self->submissions, submission->handle);
        if ((size_t) completion.rc < S_OUTCOMES) {
            svc_counter_inc(self->outcomes[completion.rc]);
        }
        submission->done(self, &completion, submission->done_arg);
        freen(submission);
    }
    if (self->stopping && zlistx_size(self->submissions) == 0) {
        s_self_drained(self);
    }
    return 0;
}

static int
s_self_handle_drain_timeout(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    bus_service_t *self = arg;
    self->drain_timer = -1;
    svc_log_warn(self->log, "bus.service.drain.timeout", "{s:i, s:I}", "in_flight",
                 (int) zlistx_size(self->submissions), "timeout_ms",
                 (json_int_t) self->shutdown_ms);
    return -1;
}

//  $TERM: refuse new requests and units (503), go not ready, and end the loop once the units in flight
//  are answered or SHUTDOWN_TIMEOUT_MS passed. HTTP runs meanwhile.
static int
s_self_handle_pipe(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    bus_service_t *self = arg;
    char *command = zstr_recv(reader);
    if (!command) {
        return 0; //  interrupted: only $TERM ends us
    }
    if (streq(command, "$TERM")) {
        self->stopping = true;
        //  New requests get 503 without reaching the service's handlers.
        svc_http_refuse(self->http, "shutting down");
        s_self_update_ready(self);
        size_t in_flight = zlistx_size(self->submissions);
        svc_log_info(self->log, "bus.service.stopping", "{s:i}", "in_flight", (int) in_flight);
        if (in_flight == 0) {
            s_self_drained(self);
        } else {
            self->drain_timer = zloop_timer(self->loop, (size_t) self->shutdown_ms, 1,
                                            s_self_handle_drain_timeout, self);
        }
    } else {
        svc_log_error(self->log, "bus.service.command.unknown", "{s:s}", "command", command);
        assert(false); //  only bus_service talks on the pipe
    }
    zstr_free(&command);
    return 0;
}

//  --------------------------------------------------------------------------
//  The service thread: start, loop, stop.

//  Destroy our producer, then the stream (which finishes its batch in
//  flight): after this no unit of ours runs again. Idempotent.
static void
s_self_close_stream(bus_service_t *self)
{
    bus_producer_destroy(&self->producer);
    if (self->bus) {
        s_self_bus_call(self, "CLOSE", NULL, "CLOSED", NULL);
    }
}

//  Run HTTP alone for S_FLUSH_MS, so that answers given outside the loop
//  leave before the server closes.
static void
s_self_flush_http(bus_service_t *self)
{
    int64_t deadline = zclock_mono() + S_FLUSH_MS;
    while (true) {
        svc_http_run(self->http);
        int64_t remaining = deadline - zclock_mono();
        if (remaining <= 0) {
            break;
        }
        long wait_ms = svc_http_timeout_ms(self->http);
        if (wait_ms < 0 || wait_ms > remaining) {
            wait_ms = (long) remaining;
        }
        zmq_pollitem_t item = {NULL, svc_http_fd(self->http), ZMQ_POLLIN, 0};
        (void) zmq_poll(&item, 1, wait_ms);
    }
}

//  After the drain timeout: close the stream (it finishes its batch in
//  flight; then none of our units can run), and complete the units still
//  in flight with BUS_CLOSED, outcome unknown, as the writer does for a
//  batch whose commit stays in doubt. Their done callbacks answer and
//  free while the state and the requests still exist.
static void
s_self_abandon_units(bus_service_t *self)
{
    s_self_close_stream(self);
    s_submission_t *submission = zlistx_first(self->submissions);
    while (submission) {
        zlistx_delete(self->submissions, submission->handle);
        bus_completion_t completion = {.tag = submission, .rc = BUS_CLOSED, .last_seq = 0};
        svc_counter_inc(self->outcomes[BUS_CLOSED]);
        submission->done(self, &completion, submission->done_arg);
        freen(submission);
        submission = zlistx_first(self->submissions);
    }
    s_self_flush_http(self);
}

//  Release what the service thread made, in the order of the header's
//  shutdown sequence. Safe at any point of a failed start.
static void
s_self_stop(bus_service_t *self)
{
    if (self->bus) {
        s_self_bus_call(self, "UNSUBSCRIBE", NULL, "UNSUBSCRIBED", NULL);
    }
    if (zlistx_size(self->submissions) > 0) {
        s_self_abandon_units(self);
    }
    if (self->http) {
        //  No handler may run once def->stop freed the state.
        svc_http_refuse(self->http, "shutting down");
    }
    if (self->started && self->def->stop) {
        self->def->stop(self, self->state);
    }
    self->started = false;
    svc_http_destroy(&self->http);
    zlistx_destroy(&self->submissions);
    s_self_close_stream(self);
    zactor_destroy(&self->bus);
    if (self->connecting) {
        s_self_connect_unwatch(self);
        PQfinish(self->connecting);
        self->connecting = NULL;
    }
    if (self->conn) {
        PQfinish(self->conn);
        self->conn = NULL;
    }
    zloop_destroy(&self->loop);
    zstr_free(&self->reason);
}

//  Join the loop: the pipe, completions, the bus thread, the timer.
static int
s_self_attach(bus_service_t *self)
{
    if (svc_http_attach(self->http, self->loop) != 0 ||
        zloop_reader(self->loop, self->pipe, s_self_handle_pipe, self) != 0 ||
        zloop_reader(self->loop, bus_producer_sock(self->producer), s_self_handle_completions,
                     self) != 0 ||
        zloop_reader(self->loop, zactor_sock(self->bus), s_self_handle_bus, self) != 0) {
        return -1;
    }
    zloop_timer(self->loop, BUS_SERVICE_READY_MS, 0, s_self_handle_ready_timer, self);
    return 0;
}

//  In the header's order: HTTP, the stream (the writer migrates), the
//  query connection, def->start, the subscriber. Returns SVC_EXIT_OK or
//  the exit code of what failed.
static int
s_self_start(bus_service_t *self)
{
    self->loop = zloop_new();
    //  Signals are the caller's (bus_service_main): only $TERM ends us.
    zloop_set_nonstop(self->loop, true);
    self->submissions = zlistx_new();
    self->conn_timer = -1;
    self->connecting_fd = -1;
    self->connect_deadline = -1;
    self->drain_timer = -1;
    self->conn_backoff_ms = BUS_RECONNECT_MIN_MS;
    self->http = svc_http_new(self->http_addr, self->log, self->metrics);
    if (!self->http) {
        return SVC_EXIT_BIND;
    }
    self->http_port = svc_http_port(self->http);
    bus_service_admin_routes(self);

    self->bus = zactor_new(s_bus_actor, NULL);
    void *stream = NULL;
    self->pub_port = s_self_bus_call(self, "OPEN", &self->stream_config, "OPENED", &stream);
    if (self->pub_port < 0) {
        return SVC_EXIT_BIND;
    }
    self->stream = (bus_stream_t *) stream;
    self->producer = bus_producer_new(self->stream);
    s_self_connect_now(self);

    if (self->def->start) {
        self->state = self->def->start(self);
        if (!self->state) {
            svc_log_error(self->log, "bus.service.start.failed", NULL);
            return SVC_EXIT_FAILURE;
        }
    }
    self->started = true;
    if (self->subscribes) {
        self->subscriber_config.handler_arg = self->state;
        if (s_self_bus_call(self, "SUBSCRIBE", &self->subscriber_config, "SUBSCRIBED", NULL)) {
            return SVC_EXIT_CONFIG; //  logged as bus.subscriber.config.invalid
        }
    } else if (self->def->types) {
        svc_log_warn(self->log, "bus.service.subscriber.none", "{s:s}", "msg",
                     "PUBLISHERS is empty: subscribing to nothing");
    }
    if (s_self_attach(self) != 0) {
        return SVC_EXIT_FAILURE;
    }
    s_self_bus_call(self, "CHECK", NULL, "CHECKED", NULL);
    s_self_update_ready(self);
    return SVC_EXIT_OK;
}

//  The service thread. A failed start still waits for $TERM, as every
//  actor does, so that bus_service_new can destroy it the usual way.
static void
s_service_actor(zsock_t *pipe, void *args)
{
    bus_service_t *self = args;
    self->pipe = pipe;
    self->exit_code = s_self_start(self);
    if (self->exit_code != SVC_EXIT_OK) {
        s_self_stop(self);
    }
    zsock_signal(pipe, 0);
    if (self->exit_code == SVC_EXIT_OK) {
        zloop_start(self->loop);
        s_self_stop(self);
    } else {
        char *command = zstr_recv(pipe);
        while (!command || !streq(command, "$TERM")) {
            zstr_free(&command);
            command = zstr_recv(pipe);
        }
        zstr_free(&command);
    }
}

//  --------------------------------------------------------------------------
//  Public API: lifecycle

//  Free what bus_service_new made on the caller's thread.
static void
s_self_free(bus_service_t **self_p)
{
    bus_service_t *self = *self_p;
    zactor_destroy(&self->actor);
    bus_auth_destroy(&self->auth);
    zstr_free(&self->app_name);
    zstr_free(&self->stream_id);
    freen(self);
    *self_p = NULL;
}

bus_service_t *
bus_service_new(const bus_service_def_t *def,
                const svc_config_t *config,
                svc_log_t *log,
                svc_metrics_t *metrics,
                int *exit_code)
{
    assert(def);
    assert(def->name && def->http_addr && def->pub_endpoint && def->database);
    assert(!def->types || !def->handler != !def->batch_handler); //  exactly one with types
    assert(config);
    assert(log);
    assert(metrics);
    assert(exit_code);
    char *problem = bus_service_config_problem(def, config);
    if (problem) {
        svc_log_error(log, "bus.service.config.invalid", "{s:s}", "msg", problem);
        zstr_free(&problem);
        *exit_code = SVC_EXIT_CONFIG;
        return NULL;
    }
    bus_service_t *self = zmalloc(sizeof *self);
    self->def = def;
    self->config = config;
    self->log = log;
    self->metrics = metrics;
    atomic_init(&self->ready, false);
    s_settings_load(self);
    for (size_t index = 0; index < S_OUTCOMES; index++) {
        self->outcomes[index] = svc_metrics_counter(
            metrics, "bus_service_units_total", "Units of work the service submitted, by outcome",
            "service", def->name, "outcome", s_outcome_labels[index], NULL);
    }
    if (s_curve_prepare(self) != 0) {
        *exit_code = SVC_EXIT_SECURITY;
        s_self_free(&self);
        return NULL;
    }
    self->actor = zactor_new(s_service_actor, self);
    *exit_code = self->exit_code;
    if (self->exit_code != SVC_EXIT_OK) {
        s_self_free(&self);
        return NULL;
    }
    svc_log_info(log, "bus.service.started", "{s:s, s:i, s:i, s:s}", "stream", self->stream_id,
                 "http_port", self->http_port, "pub_port", self->pub_port, "publishers",
                 self->publishers);
    return self;
}

void
bus_service_destroy(bus_service_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        svc_log_t *log = (*self_p)->log;
        s_self_free(self_p);
        svc_log_info(log, "bus.service.stopped", NULL);
    }
}

//  --------------------------------------------------------------------------
//  Public API: accessors

int
bus_service_http_port(bus_service_t *self)
{
    assert(self);
    return self->http_port;
}

int
bus_service_pub_port(bus_service_t *self)
{
    assert(self);
    return self->pub_port;
}

svc_http_t *
bus_service_http(bus_service_t *self)
{
    assert(self);
    return self->http;
}

svc_log_t *
bus_service_log(bus_service_t *self)
{
    assert(self);
    return self->log;
}

svc_metrics_t *
bus_service_metrics(bus_service_t *self)
{
    assert(self);
    return self->metrics;
}

const svc_config_t *
bus_service_config(bus_service_t *self)
{
    assert(self);
    return self->config;
}

const char *
bus_service_stream_id(bus_service_t *self)
{
    assert(self);
    return self->stream_id;
}

bus_stream_t *
bus_service_stream(bus_service_t *self)
{
    assert(self);
    assert(self->stream);
    return self->stream;
}

uint32_t
bus_service_partitions(bus_service_t *self)
{
    assert(self);
    return self->stream_config.partitions;
}

PGconn *
bus_service_conn(bus_service_t *self)
{
    assert(self);
    return self->conn;
}

void
bus_service_conn_lost(bus_service_t *self)
{
    assert(self);
    s_self_conn_drop(self, "query failed");
}

bool
bus_service_ready(bus_service_t *self)
{
    assert(self);
    return atomic_load(&self->ready);
}

//  --------------------------------------------------------------------------
//  Public API: units of work

int
bus_service_submit(
    bus_service_t *self, bus_work_fn *fn, void *work_arg, bus_service_done_fn *done, void *done_arg)
{
    assert(self);
    assert(fn);
    assert(done);
    return bus_service_submit_set(self, NULL, fn, work_arg, done, done_arg);
}

int
bus_service_submit_set(bus_service_t *self,
                       bus_batch_fn *batch,
                       bus_work_fn *fn,
                       void *work_arg,
                       bus_service_done_fn *done,
                       void *done_arg)
{
    assert(self);
    assert(fn);
    assert(done);
    if (self->stopping) {
        return -1;
    }
    s_submission_t *submission = zmalloc(sizeof *submission);
    submission->done = done;
    submission->done_arg = done_arg;
    submission->handle = zlistx_add_end(self->submissions, submission);
    if (bus_producer_submit_set(self->producer, batch, fn, work_arg, submission) != 0) {
        zlistx_delete(self->submissions, submission->handle);
        freen(submission);
        return -1;
    }
    return 0;
}
