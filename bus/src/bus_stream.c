/*  =========================================================================
    bus_stream - the single writer of a stream: group commit, then publish

    The handles: a stream wraps the writer actor (bus_writer.c), a producer
    is one caller thread's inproc DEALER to it. PUB and ROUTER (replay) are
    bound here, on the caller's thread, so that a bind failure returns NULL
    with no actor to undo; the sockets then move to the actors (thread
    creation is the memory barrier ZeroMQ asks for when a socket changes
    threads).

    Submissions are [fn][arg][tag] frames; completions come back as
    [tag][rc][last_seq]. The function pointer travels as its bytes, since
    ISO C does not convert function pointers to void *.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_envelope.h"
#include "bus_keys.h"
#include "bus_replay.h"
#include "bus_stream.h"
#include "bus_writer.h"

//  What the stream object holds: the writer actor and its inproc endpoint.
struct bus_stream {
    zactor_t *writer;     //  the writer actor (owned)
    char *units_endpoint; //  inproc endpoint producers connect to (owned)
};

//  A producer: one DEALER, used by one thread.
struct bus_producer {
    zsock_t *dealer; //  connected to the writer's units ROUTER (owned)
};

//  --------------------------------------------------------------------------
//  Sockets facing the network: bounded frames, CURVE if configured.

static zsock_t *
s_socket_new(int type, const bus_stream_config_t *config)
{
    zsock_t *sock = zsock_new(type);
    zsock_set_maxmsgsize(sock, BUS_FRAME_MAX);
    if (type == ZMQ_PUB) {
        zsock_set_sndhwm(sock, BUS_PUB_SNDHWM);
    }
    if (config->curve_server_cert) {
        bus_keys_rc_t rc = bus_keys_server_apply(sock, config->curve_server_cert);
        if (rc != BUS_KEYS_OK) {
            svc_log_error(config->log, "bus.stream.curve.failed", "{s:s, s:s, s:s}", "stream",
                          config->stream, "path", config->curve_server_cert, "error",
                          bus_keys_strerror(rc));
            zsock_destroy(&sock);
        }
    }
    return sock;
}

//  Bind the replay ROUTER beside a bound PUB: the configured endpoint, or
//  the PUB's host with its port + 1. Returns the port or -1.
static int
s_bind_replay(zsock_t *router, const bus_stream_config_t *config, int pub_port)
{
    if (config->replay_endpoint) {
        return zsock_bind(router, "%s", config->replay_endpoint);
    }
    const char *colon = strrchr(config->pub_endpoint, ':');
    if (strncmp(config->pub_endpoint, "tcp://", 6) != 0 || !colon || pub_port <= 0) {
        return -1;
    }
    int host_length = (int) (colon - config->pub_endpoint);
    return zsock_bind(router, "%.*s:%d", host_length, config->pub_endpoint, pub_port + 1);
}

//  Bind PUB and ROUTER. With an ephemeral PUB port and no replay endpoint,
//  port + 1 may be taken: then try another pair. czmq's ":*" takes the
//  first free port of its dynamic range, which after an unbind is the same
//  port again, so the retries ask for a random one (":!") instead.
static int
s_bind_pair(zsock_t *pub, zsock_t *router, const bus_stream_config_t *config, int ports[2])
{
    const char *wildcard = strstr(config->pub_endpoint, ":*");
    bool ephemeral = wildcard != NULL && !config->replay_endpoint;
    for (int attempt = 0; attempt < (ephemeral ? 16 : 1); attempt++) {
        if (attempt == 0) {
            ports[0] = zsock_bind(pub, "%s", config->pub_endpoint);
        } else {
            int host_length = (int) (wildcard - config->pub_endpoint);
            ports[0] = zsock_bind(pub, "%.*s:!%s", host_length, config->pub_endpoint, wildcard + 2);
        }
        if (ports[0] < 0) {
            return -1;
        }
        ports[1] = s_bind_replay(router, config, ports[0]);
        if (ports[1] >= 0) {
            return 0;
        }
        if (ephemeral) {
            char *endpoint = zsock_last_endpoint(pub);
            zsock_unbind(pub, "%s", endpoint);
            zstr_free(&endpoint);
        }
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Public API: the stream

bus_stream_t *
bus_stream_new(const bus_stream_config_t *config)
{
    assert(config);
    assert(config->conninfo);
    assert(config->pub_endpoint);
    assert(config->log);
    assert(config->metrics);
    assert(!config->migrations || config->component);
    if (!config->stream || !bus_envelope_stream_valid(config->stream)) {
        svc_log_error(config->log, "bus.stream.config.invalid", "{s:s?, s:s}", "stream",
                      config->stream, "msg", "stream id must be 1-64 bytes of [a-z0-9._-]");
        return NULL;
    }
    zsock_t *pub = s_socket_new(ZMQ_PUB, config);
    zsock_t *router = s_socket_new(ZMQ_ROUTER, config);
    int ports[2] = {-1, -1};
    if (!pub || !router || s_bind_pair(pub, router, config, ports)) {
        svc_log_error(config->log, "bus.stream.bind.failed", "{s:s, s:s, s:s?}", "stream",
                      config->stream, "pub_endpoint", config->pub_endpoint, "replay_endpoint",
                      config->replay_endpoint);
        zsock_destroy(&router);
        zsock_destroy(&pub);
        return NULL;
    }
    bus_stream_t *self = zmalloc(sizeof *self);
    self->units_endpoint = zsys_sprintf("inproc://bus-stream-%s-%p", config->stream, (void *) self);
    bus_writer_args_t args = {.config = config,
                              .pub = pub,
                              .router = router,
                              .units_endpoint = self->units_endpoint,
                              .pub_port = ports[0],
                              .replay_port = ports[1]};
    self->writer = zactor_new(bus_writer, &args);
    assert(!args.pub && !args.router); //  the actor took both
    return self;
}

void
bus_stream_destroy(bus_stream_t **self_p)
{
    assert(self_p);
    bus_stream_t *self = *self_p;
    if (!self) {
        return;
    }
    zactor_destroy(&self->writer);
    zstr_free(&self->units_endpoint);
    freen(self);
    *self_p = NULL;
}

int
bus_stream_pub_port(bus_stream_t *self)
{
    assert(self);
    int pub_port = -1, replay_port = -1;
    zstr_send(self->writer, "PORTS");
    zsock_recv(self->writer, "ii", &pub_port, &replay_port);
    return pub_port;
}

int
bus_stream_replay_port(bus_stream_t *self)
{
    assert(self);
    int pub_port = -1, replay_port = -1;
    zstr_send(self->writer, "PORTS");
    zsock_recv(self->writer, "ii", &pub_port, &replay_port);
    return replay_port;
}

bool
bus_stream_ready(bus_stream_t *self)
{
    assert(self);
    int ready = 0;
    zstr_send(self->writer, "READY?");
    zsock_recv(self->writer, "i", &ready);
    return ready == 1;
}

//  --------------------------------------------------------------------------
//  Public API: producers

bus_producer_t *
bus_producer_new(bus_stream_t *stream)
{
    assert(stream);
    bus_producer_t *self = zmalloc(sizeof *self);
    self->dealer = zsock_new(ZMQ_DEALER);
    zsock_set_rcvhwm(self->dealer, 0); //  completions are never dropped
    int rc = zsock_connect(self->dealer, "%s", stream->units_endpoint);
    assert(rc == 0);
    return self;
}

void
bus_producer_destroy(bus_producer_t **self_p)
{
    assert(self_p);
    bus_producer_t *self = *self_p;
    if (!self) {
        return;
    }
    zsock_destroy(&self->dealer);
    freen(self);
    *self_p = NULL;
}

int
bus_producer_submit(bus_producer_t *self, bus_work_fn *fn, void *arg, void *tag)
{
    assert(self);
    assert(fn);
    return bus_producer_submit_set(self, NULL, fn, arg, tag);
}

int
bus_producer_submit_set(
    bus_producer_t *self, bus_batch_fn *batch, bus_work_fn *fn, void *arg, void *tag)
{
    assert(self);
    assert(fn);
    //  One fixed-size frame: no per-frame allocations on either side.
    bus_writer_submit_t submit = {.batch = batch, .fn = fn, .arg = arg, .tag = tag};
    int sent = zmq_send(zsock_resolve(self->dealer), &submit, sizeof submit, 0);
    return sent == (int) sizeof submit ? 0 : -1;
}

zsock_t *
bus_producer_sock(bus_producer_t *self)
{
    assert(self);
    return self->dealer;
}

int
bus_producer_recv(bus_producer_t *self, bus_completion_t *completion)
{
    assert(self);
    assert(completion);
    bus_writer_completion_t answer;
    int size = zmq_recv(zsock_resolve(self->dealer), &answer, sizeof answer, 0);
    if (size != (int) sizeof answer) {
        return -1; //  interrupted, timed out, or not an answer
    }
    *completion = (bus_completion_t){
        .tag = answer.tag, .rc = (bus_rc_t) answer.rc, .last_seq = answer.last_seq};
    return 0;
}

bus_rc_t
bus_producer_call(bus_producer_t *self, bus_work_fn *fn, void *arg, uint64_t *last_seq_out)
{
    assert(self);
    assert(fn);
    bus_completion_t completion = {.rc = BUS_CLOSED};
    if (bus_producer_submit(self, fn, arg, &completion) || bus_producer_recv(self, &completion)) {
        return BUS_CLOSED;
    }
    assert(completion.tag == &completion); //  nothing else may be outstanding
    if (last_seq_out) {
        *last_seq_out = completion.last_seq;
    }
    return completion.rc;
}
