/*  =========================================================================
    bus_peers - the publisher addresses of a subscriber (private to bus)

    Peers live in a hash by PUB endpoint ("tcp://10.1.2.3:5560"); the hash
    has no destructor, because retiring a peer moves it to a list that is
    purged at the next resolution (see the header on why).
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_envelope.h"
#include "bus_keys.h"
#include "bus_peers.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

//  A configured publisher: tcp://host:port.
typedef struct {
    char *host; //  name or address, without IPv6 brackets (owned)
    int port;   //  PUB port; replay is port + 1
} s_host_t;

struct bus_peers {
    char *consumer;                //  consumer group (owned)
    s_host_t *hosts;               //  configured publishers (owned array)
    size_t host_count;             //  how many
    int rcvhwm;                    //  SUB receive HWM, 0 = ZeroMQ's
    char *curve_client_cert;       //  our secret cert, NULL = no CURVE (owned)
    char *curve_server_public;     //  publishers' public cert (owned)
    zloop_t *loop;                 //  the owner's loop (borrowed)
    zloop_reader_fn *on_live;      //  SUB reader
    zloop_reader_fn *on_reply;     //  DEALER reader
    bus_peer_retire_fn *on_retire; //  told before a peer is retired
    void *owner;                   //  the owner (borrowed)
    svc_log_t *log;                //  borrowed
    svc_metrics_t *metrics;        //  borrowed
    zhashx_t *peers;               //  endpoint -> bus_peer_t (owned; no destructor)
    zlistx_t *retired;             //  out of the loop, freed at the next resolution (owned)
};

struct bus_peer {
    bus_peers_t *peers;                   //  the set (borrowed)
    char *host;                           //  the configured host it came from (owned)
    char *endpoint;                       //  PUB endpoint (owned)
    char *replay_endpoint;                //  ROUTER endpoint, port + 1 (owned)
    zsock_t *sub;                         //  live events and heartbeats (owned)
    zsock_t *dealer;                      //  replay requests and replies (owned)
    char stream[BUS_STREAM_NAME_MAX + 1]; //  the stream last heard from, "" if none
    int64_t heard_ms;                     //  when anything last arrived (or we connected)
    int64_t malformed_logged_ms;          //  when a malformed frame was last logged, 0 never
    uint64_t malformed_unlogged;          //  malformed frames since, not logged
    bool seen;                            //  found by the latest resolution
    bool heard;                           //  anything arrived since it was added
    bool silent;                          //  nothing heard for BUS_SUBSCRIBER_PEER_SILENT_MS
};

//  --------------------------------------------------------------------------
//  Parsing "tcp://host:port,..." (IPv6 as [addr]).

static void
s_hosts_free(s_host_t **hosts_p, size_t count)
{
    for (size_t index = 0; *hosts_p && index < count; index++) {
        zstr_free(&(*hosts_p)[index].host);
    }
    freen(*hosts_p);
}

//  Parse one "tcp://host:port" of `length` bytes; returns 0 or -1.
static int
s_host_parse(const char *text, size_t length, s_host_t *host)
{
    char entry[BUS_SUBSCRIBER_ENDPOINT_MAX + 1];
    if (length < 7 || length > BUS_SUBSCRIBER_ENDPOINT_MAX || strncmp(text, "tcp://", 6) != 0) {
        return -1;
    }
    memcpy(entry, text + 6, length - 6);
    entry[length - 6] = '\0';
    char *name = entry;
    char *colon = strrchr(entry, ':');
    if (!colon || colon == entry) {
        return -1;
    }
    *colon = '\0';
    if (*name == '[') {
        size_t name_length = strlen(name);
        if (name_length < 3 || name[name_length - 1] != ']') {
            return -1;
        }
        name[name_length - 1] = '\0';
        name++;
    }
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!*name || strchr(name, '[') || strchr(name, ']') || end == colon + 1 || *end || port < 1 ||
        port > 65534) {
        return -1;
    }
    host->host = strdup(name);
    host->port = (int) port;
    return 0;
}

//  Returns the hosts (caller owns, s_hosts_free) or NULL if invalid.
static s_host_t *
s_hosts_parse(const char *publishers, size_t *count_out)
{
    s_host_t *hosts = zmalloc(BUS_SUBSCRIBER_HOSTS_MAX * sizeof *hosts);
    size_t count = 0;
    const char *cursor = publishers;
    while (*cursor) {
        size_t length = strcspn(cursor, ",");
        while (length > 0 && cursor[length - 1] == ' ') {
            length--;
        }
        if (count == BUS_SUBSCRIBER_HOSTS_MAX || s_host_parse(cursor, length, &hosts[count])) {
            s_hosts_free(&hosts, count);
            return NULL;
        }
        count++;
        cursor += strcspn(cursor, ",");
        cursor += *cursor == ',' ? 1 : 0;
        while (*cursor == ' ') {
            cursor++;
        }
    }
    if (count == 0) {
        s_hosts_free(&hosts, count);
        return NULL;
    }
    *count_out = count;
    return hosts;
}

bool
bus_peers_valid(const char *publishers)
{
    assert(publishers);
    size_t count = 0;
    s_host_t *hosts = s_hosts_parse(publishers, &count);
    bool valid = hosts != NULL;
    s_hosts_free(&hosts, count);
    return valid;
}

//  --------------------------------------------------------------------------
//  One peer

static void
s_peer_destroy(bus_peer_t **self_p)
{
    assert(self_p);
    bus_peer_t *self = *self_p;
    if (self) {
        zsock_destroy(&self->dealer);
        zsock_destroy(&self->sub);
        zstr_free(&self->replay_endpoint);
        zstr_free(&self->endpoint);
        zstr_free(&self->host);
        freen(self);
        *self_p = NULL;
    }
}

static void
s_peer_free(void **item)
{
    s_peer_destroy((bus_peer_t **) item);
}

//  Bound frames, reconnect timing, IPv6, CURVE. Returns 0 or -1 (logged).
static int
s_socket_setup(bus_peers_t *self, zsock_t *sock, bool ipv6)
{
    zsock_set_maxmsgsize(sock, BUS_FRAME_MAX + BUS_SUBSCRIBER_FRAME_SLACK);
    zsock_set_reconnect_ivl(sock, BUS_SUBSCRIBER_RECONNECT_IVL_MS);
    zsock_set_reconnect_ivl_max(sock, BUS_SUBSCRIBER_RECONNECT_IVL_MAX_MS);
    zsock_set_linger(sock, 0);
    zsock_set_ipv6(sock, ipv6 ? 1 : 0);
    if (self->curve_client_cert) {
        bus_keys_rc_t rc =
            bus_keys_client_apply(sock, self->curve_client_cert, self->curve_server_public);
        if (rc != BUS_KEYS_OK) {
            svc_log_error(self->log, "bus.subscriber.curve.failed", "{s:s, s:s, s:s}", "consumer",
                          self->consumer, "path", self->curve_client_cert, "error",
                          bus_keys_strerror(rc));
            return -1;
        }
    }
    return 0;
}

//  Connect to one address; NULL if the sockets cannot be set up (logged).
static bus_peer_t *
s_peer_new(bus_peers_t *self, const s_host_t *host, const char *address, bool ipv6)
{
    bus_peer_t *peer = zmalloc(sizeof *peer);
    peer->peers = self;
    peer->host = strdup(host->host);
    const char *format = ipv6 ? "tcp://[%s]:%d" : "tcp://%s:%d";
    peer->endpoint = zsys_sprintf(format, address, host->port);
    peer->replay_endpoint = zsys_sprintf(format, address, host->port + 1);
    peer->sub = zsock_new(ZMQ_SUB);
    peer->dealer = zsock_new(ZMQ_DEALER);
    if (self->rcvhwm > 0) {
        zsock_set_rcvhwm(peer->sub, self->rcvhwm);
    }
    zsock_set_subscribe(peer->sub, "");
    if (s_socket_setup(self, peer->sub, ipv6) || s_socket_setup(self, peer->dealer, ipv6) ||
        zsock_connect(peer->sub, "%s", peer->endpoint) ||
        zsock_connect(peer->dealer, "%s", peer->replay_endpoint)) {
        svc_log_error(self->log, "bus.subscriber.peer.failed", "{s:s, s:s}", "consumer",
                      self->consumer, "endpoint", peer->endpoint);
        s_peer_destroy(&peer);
        return NULL;
    }
    peer->heard_ms = zclock_mono();
    zloop_reader(self->loop, peer->sub, self->on_live, peer);
    zloop_reader_set_tolerant(self->loop, peer->sub);
    zloop_reader(self->loop, peer->dealer, self->on_reply, peer);
    zloop_reader_set_tolerant(self->loop, peer->dealer);
    svc_log_info(self->log, "bus.subscriber.peer.added", "{s:s, s:s}", "consumer", self->consumer,
                 "endpoint", peer->endpoint);
    return peer;
}

//  Connect both sockets again: a refused CURVE client does not retry by
//  itself, and connecting again to a known endpoint is a no-op in libzmq.
static void
s_peer_reconnect(bus_peer_t *peer)
{
    zsock_disconnect(peer->sub, "%s", peer->endpoint);
    zsock_connect(peer->sub, "%s", peer->endpoint);
    zsock_disconnect(peer->dealer, "%s", peer->replay_endpoint);
    zsock_connect(peer->dealer, "%s", peer->replay_endpoint);
    peer->heard_ms = zclock_mono();
}

//  --------------------------------------------------------------------------
//  The set

bus_peers_t *
bus_peers_new(const bus_peers_config_t *config)
{
    assert(config);
    assert(config->consumer);
    assert(config->publishers);
    assert(config->loop);
    assert(config->on_live);
    assert(config->on_reply);
    assert(config->on_retire);
    assert(config->log);
    assert(config->metrics);
    bus_peers_t *self = zmalloc(sizeof *self);
    self->consumer = strdup(config->consumer);
    self->hosts = s_hosts_parse(config->publishers, &self->host_count);
    assert(self->hosts);
    self->rcvhwm = config->rcvhwm;
    if (config->curve_client_cert) {
        self->curve_client_cert = strdup(config->curve_client_cert);
        self->curve_server_public = strdup(config->curve_server_public);
    }
    self->loop = config->loop;
    self->on_live = config->on_live;
    self->on_reply = config->on_reply;
    self->on_retire = config->on_retire;
    self->owner = config->owner;
    self->log = config->log;
    self->metrics = config->metrics;
    self->peers = zhashx_new();
    self->retired = zlistx_new();
    zlistx_set_destructor(self->retired, s_peer_free);
    return self;
}

void
bus_peers_destroy(bus_peers_t **self_p)
{
    assert(self_p);
    bus_peers_t *self = *self_p;
    if (!self) {
        return;
    }
    zlistx_destroy(&self->retired);
    for (bus_peer_t *peer = zhashx_first(self->peers); peer; peer = zhashx_next(self->peers)) {
        s_peer_destroy(&peer);
    }
    zhashx_destroy(&self->peers);
    zstr_free(&self->curve_server_public);
    zstr_free(&self->curve_client_cert);
    s_hosts_free(&self->hosts, self->host_count);
    zstr_free(&self->consumer);
    freen(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Name resolution

static void
s_self_add_address(bus_peers_t *self, const s_host_t *host, const struct addrinfo *info)
{
    char address[INET6_ADDRSTRLEN];
    bool ipv6 = info->ai_family == AF_INET6;
    const void *raw = ipv6 ? (const void *) &((struct sockaddr_in6 *) info->ai_addr)->sin6_addr
                           : (const void *) &((struct sockaddr_in *) info->ai_addr)->sin_addr;
    if (!inet_ntop(info->ai_family, raw, address, sizeof address)) {
        return;
    }
    char *endpoint = zsys_sprintf(ipv6 ? "tcp://[%s]:%d" : "tcp://%s:%d", address, host->port);
    bus_peer_t *peer = zhashx_lookup(self->peers, endpoint);
    if (!peer && zhashx_size(self->peers) < BUS_SUBSCRIBER_PEERS_MAX) {
        peer = s_peer_new(self, host, address, ipv6);
        if (peer) {
            zhashx_insert(self->peers, peer->endpoint, peer);
        }
    }
    if (peer) {
        peer->seen = true;
    }
    zstr_free(&endpoint);
}

//  Resolve one host; on failure keep the peers it had (DNS may be down).
static void
s_self_resolve_host(bus_peers_t *self, const s_host_t *host)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(host->host, NULL, &hints, &list);
    if (rc != 0) {
        svc_log_warn(self->log, "bus.subscriber.resolve.failed", "{s:s, s:s, s:s}", "consumer",
                     self->consumer, "host", host->host, "error", gai_strerror(rc));
        for (bus_peer_t *peer = zhashx_first(self->peers); peer; peer = zhashx_next(self->peers)) {
            peer->seen = peer->seen || streq(peer->host, host->host);
        }
        return;
    }
    for (struct addrinfo *info = list; info; info = info->ai_next) {
        if (info->ai_family == AF_INET || info->ai_family == AF_INET6) {
            s_self_add_address(self, host, info);
        }
    }
    freeaddrinfo(list);
}

//  Take a peer whose address vanished out of the loop; freed later.
static void
s_self_retire(bus_peers_t *self, bus_peer_t *peer)
{
    svc_log_info(self->log, "bus.subscriber.peer.retired", "{s:s, s:s}", "consumer", self->consumer,
                 "endpoint", peer->endpoint);
    self->on_retire(peer, self->owner);
    zloop_reader_end(self->loop, peer->sub);
    zloop_reader_end(self->loop, peer->dealer);
    zhashx_delete(self->peers, peer->endpoint);
    zlistx_add_end(self->retired, peer);
}

void
bus_peers_resolve(bus_peers_t *self)
{
    assert(self);
    zlistx_purge(self->retired); //  out of the loop since the last resolution
    for (bus_peer_t *peer = zhashx_first(self->peers); peer; peer = zhashx_next(self->peers)) {
        peer->seen = false;
    }
    for (size_t index = 0; index < self->host_count; index++) {
        s_self_resolve_host(self, &self->hosts[index]);
    }
    zlistx_t *gone = zlistx_new();
    for (bus_peer_t *peer = zhashx_first(self->peers); peer; peer = zhashx_next(self->peers)) {
        if (!peer->seen) {
            zlistx_add_end(gone, peer);
        }
    }
    for (bus_peer_t *peer = zlistx_first(gone); peer; peer = zlistx_next(gone)) {
        s_self_retire(self, peer);
    }
    zlistx_destroy(&gone);
}

void
bus_peers_tick(bus_peers_t *self, int64_t now_ms)
{
    assert(self);
    for (bus_peer_t *peer = zhashx_first(self->peers); peer; peer = zhashx_next(self->peers)) {
        if (now_ms - peer->heard_ms >= BUS_SUBSCRIBER_PEER_SILENT_MS) {
            //  Said once per silence; the reconnect repeats every period.
            if (!peer->silent) {
                svc_log_warn(self->log, "bus.subscriber.peer.silent", "{s:s, s:s, s:i}", "consumer",
                             self->consumer, "endpoint", peer->endpoint, "silent_ms",
                             BUS_SUBSCRIBER_PEER_SILENT_MS);
            }
            peer->silent = true;
            s_peer_reconnect(peer);
        }
    }
}

bool
bus_peers_ready(bus_peers_t *self)
{
    assert(self);
    for (size_t index = 0; index < self->host_count; index++) {
        bool reached = false;
        for (bus_peer_t *peer = zhashx_first(self->peers); peer && !reached;
             peer = zhashx_next(self->peers)) {
            reached = peer->heard && !peer->silent && streq(peer->host, self->hosts[index].host);
        }
        if (!reached) {
            return false;
        }
    }
    return true;
}

size_t
bus_peers_size(bus_peers_t *self)
{
    assert(self);
    return zhashx_size(self->peers);
}

size_t
bus_peers_hosts(bus_peers_t *self)
{
    assert(self);
    return self->host_count;
}

//  --------------------------------------------------------------------------
//  One peer's accessors

void *
bus_peer_owner(bus_peer_t *peer)
{
    assert(peer);
    return peer->peers->owner;
}

void
bus_peers_each(bus_peers_t *self, void (*fn)(bus_peer_t *peer, void *arg), void *arg)
{
    assert(self);
    assert(fn);
    for (bus_peer_t *peer = zhashx_first(self->peers); peer; peer = zhashx_next(self->peers)) {
        fn(peer, arg);
    }
}

zsock_t *
bus_peer_sub(bus_peer_t *peer)
{
    assert(peer);
    return peer->sub;
}

zsock_t *
bus_peer_dealer(bus_peer_t *peer)
{
    assert(peer);
    return peer->dealer;
}

const char *
bus_peer_endpoint(bus_peer_t *peer)
{
    assert(peer);
    return peer->endpoint;
}

const char *
bus_peer_stream(bus_peer_t *peer)
{
    assert(peer);
    return peer->stream;
}

void
bus_peer_set_stream(bus_peer_t *peer, const char *stream)
{
    assert(peer);
    assert(stream);
    //  Called for every event the peer brings: mostly the same name again.
    if (strcmp(peer->stream, stream) != 0) {
        (void) snprintf(peer->stream, sizeof peer->stream, "%s", stream);
    }
}

void
bus_peer_heard(bus_peer_t *peer)
{
    assert(peer);
    peer->heard_ms = zclock_mono();
    peer->heard = true;
    if (peer->silent) {
        peer->silent = false;
        svc_log_info(peer->peers->log, "bus.subscriber.peer.heard", "{s:s, s:s}", "consumer",
                     peer->peers->consumer, "endpoint", peer->endpoint);
    }
}

void
bus_peer_malformed(bus_peer_t *peer, const char *reason)
{
    assert(peer);
    assert(reason);
    bus_peers_t *self = peer->peers;
    svc_counter_inc(svc_metrics_counter(
        self->metrics, "bus_malformed_frames_total", "Frames dropped because they did not decode",
        "consumer", self->consumer, "stream", *peer->stream ? peer->stream : "unknown", NULL));
    int64_t now = zclock_mono();
    if (peer->malformed_logged_ms && now - peer->malformed_logged_ms < BUS_SUBSCRIBER_LOG_MS) {
        peer->malformed_unlogged++;
        return;
    }
    svc_log_warn(self->log, "bus.subscriber.frame.malformed", "{s:s, s:s, s:s, s:s, s:I}",
                 "consumer", self->consumer, "endpoint", peer->endpoint, "stream", peer->stream,
                 "reason", reason, "unlogged", (json_int_t) peer->malformed_unlogged);
    peer->malformed_logged_ms = now;
    peer->malformed_unlogged = 0;
}
