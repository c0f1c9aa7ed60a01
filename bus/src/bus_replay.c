/*  =========================================================================
    bus_replay - the replay server of a stream: answers ReplayRequests

    One actor, one ROUTER, one PostgreSQL connection, one zpoller (no
    timers: reconnects happen when a request needs the database). Every
    request is answered from a single SELECT, so the events, last_seq and
    first_seq of a reply are one snapshot: a retention run that commits in
    between cannot make a reply claim events it does not hold.

    Nothing a peer sends is trusted: a frame that does not decode is
    answered with BAD_REQUEST, counted, and logged once per peer.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_db.h"
#include "bus_control.h"
#include "bus_envelope.h"
#include "bus_replay.h"
#include "bus_stream.h"

#include <endian.h>

//  One snapshot: the stream's tail and retention floor, plus the events
//  from $2 on, at most $3 of them and at most $4 bytes (the first event
//  always, so a reply never stalls). Nothing is read below first_seq.
static const char *s_replay_sql =
    "SELECT s.last_seq, s.first_seq, w.seq, w.envelope"
    " FROM bus_streams s"
    " LEFT JOIN LATERAL ("
    "  SELECT l.seq, l.envelope,"
    "         sum(octet_length(l.envelope)) OVER (ORDER BY l.seq) AS running,"
    "         row_number() OVER (ORDER BY l.seq) AS position"
    "  FROM (SELECT seq, envelope FROM bus_events"
    "        WHERE stream = s.stream AND seq >= $2 AND $2 >= s.first_seq"
    "        ORDER BY seq LIMIT $3) l"
    " ) w ON w.running <= $4 OR w.position = 1"
    " WHERE s.stream = $1"
    " ORDER BY w.seq";

typedef struct {
    zsock_t *pipe;            //  actor pipe (borrowed)
    zsock_t *router;          //  the replay ROUTER (owned)
    zpoller_t *poller;        //  pipe + router (owned)
    PGconn *conn;             //  event log connection, NULL until needed or after a loss (owned)
    char *stream;             //  the stream served (owned)
    char *conninfo;           //  libpq connection string (owned)
    char *app_name;           //  application_name of our connection (owned)
    svc_log_t *log;           //  borrowed
    zhashx_t *bad_peers;      //  hex routing ids already logged for a bad request (owned)
    int64_t connect_after_ms; //  zclock_mono time before which no reconnect is tried
    int backoff_ms;           //  current reconnect backoff
    bool terminated;          //  $TERM received
    svc_counter_t *status_count[5]; //  bus_replay_requests_total by status, [0] = unavailable
    svc_counter_t *replayed;        //  bus_replayed_events_total
} self_t;

//  The label of each status, indexed by bus_replay_status_t (0 = no answer).
static const char *s_status_labels[] = {"unavailable", "ok", "trimmed", "unknown_stream",
                                        "bad_request"};

//  --------------------------------------------------------------------------
//  Take the router and copy the configuration.

static self_t *
s_self_new(zsock_t *pipe, bus_replay_config_t *config)
{
    self_t *self = zmalloc(sizeof *self);
    self->pipe = pipe;
    self->router = config->router;
    config->router = NULL;
    self->poller = zpoller_new(pipe, self->router, NULL);
    self->stream = strdup(config->stream);
    self->conninfo = strdup(config->conninfo);
    self->app_name = zsys_sprintf("bus-replay-%s", config->stream);
    self->log = config->log;
    self->bad_peers = zhashx_new();
    self->backoff_ms = BUS_RECONNECT_MIN_MS;
    for (size_t index = 0; index < sizeof s_status_labels / sizeof *s_status_labels; index++) {
        self->status_count[index] = svc_metrics_counter(
            config->metrics, "bus_replay_requests_total",
            "Replay requests answered, by status (unavailable = database down, no answer)",
            "stream", self->stream, "status", s_status_labels[index], NULL);
    }
    self->replayed =
        svc_metrics_counter(config->metrics, "bus_replayed_events_total",
                            "Events sent in replay replies", "stream", self->stream, NULL);
    return self;
}

//  --------------------------------------------------------------------------
//  Free in reverse order of creation.

static void
s_self_destroy(self_t **self_p)
{
    assert(self_p);
    self_t *self = *self_p;
    if (!self) {
        return;
    }
    zhashx_destroy(&self->bad_peers);
    if (self->conn) {
        PQfinish(self->conn);
    }
    zstr_free(&self->app_name);
    zstr_free(&self->conninfo);
    zstr_free(&self->stream);
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->router);
    freen(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Have a connection, or return -1 (and try again only after the backoff).

static int
s_self_connect(self_t *self)
{
    if (self->conn && PQstatus(self->conn) == CONNECTION_OK) {
        return 0;
    }
    if (self->conn) {
        PQfinish(self->conn);
        self->conn = NULL;
    }
    if (zclock_mono() < self->connect_after_ms) {
        return -1;
    }
    char *error = NULL;
    self->conn = bus_db_connect(self->conninfo, self->app_name, self->log, &error);
    if (self->conn) {
        self->backoff_ms = BUS_RECONNECT_MIN_MS;
        return 0;
    }
    int delay_ms = bus_db_backoff(&self->backoff_ms);
    svc_log_warn(self->log, "bus.replay.db.unavailable", "{s:s, s:s, s:i}", "stream", self->stream,
                 "error", error, "retry_ms", delay_ms);
    zstr_free(&error);
    self->connect_after_ms = zclock_mono() + delay_ms;
    return -1;
}

//  --------------------------------------------------------------------------
//  A big-endian int8 column of a binary result.

static uint64_t
s_int8_of(const PGresult *result, int row, int column)
{
    uint64_t value = 0;
    if (PQgetlength(result, row, column) == (int) sizeof value) {
        memcpy(&value, PQgetvalue(result, row, column), sizeof value);
    }
    return be64toh(value);
}

//  --------------------------------------------------------------------------
//  Read what `request` asks for. Returns the result (caller owns it) or
//  NULL when the database failed (the connection is dropped for a retry).

static PGresult *
s_self_query(self_t *self, const bus_replay_request_t *request, uint32_t max_events)
{
    if (s_self_connect(self)) {
        return NULL;
    }
    char from_text[24], limit_text[16], bytes_text[16];
    (void) snprintf(from_text, sizeof from_text, "%" PRIu64, request->from_seq);
    (void) snprintf(limit_text, sizeof limit_text, "%" PRIu32, max_events);
    (void) snprintf(bytes_text, sizeof bytes_text, "%d", BUS_REPLAY_BYTES_MAX);
    const char *params[] = {self->stream, from_text, limit_text, bytes_text};
    PGresult *result = PQexecParams(self->conn, s_replay_sql, 4, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        svc_log_warn(self->log, "bus.replay.query.failed", "{s:s, s:I, s:s}", "stream",
                     self->stream, "from_seq", (json_int_t) request->from_seq, "error",
                     PQresultErrorMessage(result));
        PQclear(result);
        if (PQstatus(self->conn) != CONNECTION_OK) {
            PQfinish(self->conn);
            self->conn = NULL;
        }
        return NULL;
    }
    return result;
}

//  --------------------------------------------------------------------------
//  Send the reply header and the events of `result` (if any) to `peer`.

static void
s_self_send(self_t *self, zframe_t *peer, const bus_replay_reply_t *reply, PGresult *result)
{
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, &(zframe_t *){zframe_dup(peer)});
    zframe_t *header = bus_replay_reply_encode(reply);
    assert(header); //  every reply we build follows the encoder's rules
    zmsg_append(msg, &header);
    int rows = result ? PQntuples(result) : 0;
    for (int row = 0; row < rows && reply->to_seq >= reply->from_seq; row++) {
        zmsg_addmem(msg, PQgetvalue(result, row, 3), (size_t) PQgetlength(result, row, 3));
    }
    //  A peer that is gone or over its high-water mark loses the reply and
    //  asks again after its timeout (ROUTER drops, it never blocks).
    zmsg_send(&msg, self->router);
    zmsg_destroy(&msg);
    svc_counter_inc(self->status_count[reply->status]);
    if (reply->to_seq >= reply->from_seq && reply->status == BUS_REPLAY_OK) {
        svc_counter_add(self->replayed, reply->to_seq - reply->from_seq + 1);
    }
}

//  --------------------------------------------------------------------------
//  Answer a decoded request for our stream.

static void
s_self_answer(self_t *self, zframe_t *peer, const bus_replay_request_t *request)
{
    uint32_t max_events =
        request->max_events < BUS_REPLAY_EVENTS_MAX ? request->max_events : BUS_REPLAY_EVENTS_MAX;
    PGresult *result = s_self_query(self, request, max_events);
    if (!result) {
        svc_counter_inc(self->status_count[0]);
        return;
    }
    bus_replay_reply_t reply = {.status = BUS_REPLAY_OK, .from_seq = request->from_seq};
    (void) snprintf(reply.stream, sizeof reply.stream, "%s", self->stream);
    reply.to_seq = request->from_seq - 1;
    if (PQntuples(result) == 0) {
        //  No bus_streams row: the writer never started on this database.
        reply.status = BUS_REPLAY_UNKNOWN_STREAM;
        reply.first_seq = 1;
    } else {
        reply.last_seq = s_int8_of(result, 0, 0);
        reply.first_seq = s_int8_of(result, 0, 1);
        if (request->from_seq < reply.first_seq) {
            reply.status = BUS_REPLAY_TRIMMED;
        } else if (!PQgetisnull(result, 0, 2)) {
            reply.to_seq = s_int8_of(result, PQntuples(result) - 1, 2);
        }
    }
    svc_log_debug(self->log, "bus.replay.answered", "{s:s, s:I, s:I, s:s}", "stream", self->stream,
                  "from_seq", (json_int_t) reply.from_seq, "to_seq", (json_int_t) reply.to_seq,
                  "status", s_status_labels[reply.status]);
    s_self_send(self, peer, &reply, result);
    PQclear(result);
}

//  --------------------------------------------------------------------------
//  Count and answer a request that did not decode; log once per peer.

static void
s_self_reject(self_t *self, zframe_t *peer, const char *reason)
{
    char *peer_hex = zframe_strhex(peer);
    if (!zhashx_lookup(self->bad_peers, peer_hex)) {
        if (zhashx_size(self->bad_peers) >= BUS_REPLAY_BAD_PEERS_MAX) {
            zhashx_purge(self->bad_peers);
        }
        zhashx_insert(self->bad_peers, peer_hex, "");
        svc_log_warn(self->log, "bus.replay.bad_request", "{s:s, s:s, s:s}", "stream", self->stream,
                     "peer", peer_hex, "reason", reason);
    }
    zstr_free(&peer_hex);
    bus_replay_reply_t reply = {.status = BUS_REPLAY_BAD_REQUEST};
    s_self_send(self, peer, &reply, NULL);
}

//  --------------------------------------------------------------------------
//  One message from the ROUTER: [peer][ReplayRequest].

static void
s_self_handle_router(self_t *self)
{
    zmsg_t *msg = zmsg_recv(self->router);
    if (!msg) {
        return;
    }
    zframe_t *peer = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    bus_replay_request_t request;
    if (!peer) {
        //  Cannot happen on a ROUTER; nothing to answer.
    } else if (!body || zmsg_size(msg) > 0) {
        s_self_reject(self, peer, "a request is exactly one frame");
    } else if (bus_replay_request_decode(zframe_data(body), zframe_size(body), &request) !=
               BUS_OK) {
        s_self_reject(self, peer, "the frame is no valid ReplayRequest");
    } else if (!streq(request.stream, self->stream)) {
        bus_replay_reply_t reply = {.status = BUS_REPLAY_UNKNOWN_STREAM,
                                    .from_seq = request.from_seq,
                                    .to_seq = request.from_seq - 1,
                                    .first_seq = 1};
        (void) snprintf(reply.stream, sizeof reply.stream, "%s", request.stream);
        s_self_send(self, peer, &reply, NULL);
    } else {
        s_self_answer(self, peer, &request);
    }
    zframe_destroy(&body);
    zframe_destroy(&peer);
    zmsg_destroy(&msg);
}

//  --------------------------------------------------------------------------
//  A command on the pipe.

static void
s_self_handle_pipe(self_t *self)
{
    char *command = zstr_recv(self->pipe);
    if (!command) {
        self->terminated = true; //  interrupted
        return;
    }
    if (streq(command, "$TERM")) {
        self->terminated = true;
    } else if (streq(command, "PORT")) {
        char *endpoint = zsock_last_endpoint(self->router);
        const char *colon = endpoint ? strrchr(endpoint, ':') : NULL;
        int port = endpoint && strncmp(endpoint, "tcp://", 6) == 0 && colon ? atoi(colon + 1) : 0;
        zstr_free(&endpoint);
        zsock_send(self->pipe, "i", port);
    } else {
        svc_log_error(self->log, "bus.replay.command.unknown", "{s:s}", "command", command);
        assert(false); //  only our own code talks on the pipe
    }
    zstr_free(&command);
}

//  --------------------------------------------------------------------------
//  The actor.

void
bus_replay_server(zsock_t *pipe, void *args)
{
    assert(pipe);
    bus_replay_config_t *config = args;
    assert(config);
    assert(config->stream);
    assert(config->conninfo);
    assert(config->router);
    assert(config->log);
    assert(config->metrics);
    self_t *self = s_self_new(pipe, config);
    zsock_signal(pipe, 0);
    while (!self->terminated) {
        void *which = zpoller_wait(self->poller, -1);
        if (which == self->pipe) {
            s_self_handle_pipe(self);
        } else if (which == self->router) {
            s_self_handle_router(self);
        } else if (zpoller_terminated(self->poller)) {
            break;
        }
    }
    s_self_destroy(&self);
}
