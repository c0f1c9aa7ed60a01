/*  =========================================================================
    bus_peers - the publisher addresses of a subscriber (private to bus)

    A subscriber is configured with publisher endpoints "tcp://host:port";
    libzmq would connect to only the first address a name resolves to, so
    this class resolves every host to all its addresses (a headless
    Kubernetes Service names every pod) and keeps one peer per address: a
    SUB on the PUB port and a DEALER on port + 1 (docs/protocol.md section
    3). bus_peers_resolve, at start and every resolve_ms, adds peers for new
    addresses and retires those whose address vanished; a host that fails to
    resolve keeps its peers (DNS may be down, the pods may not be).

    The peers' sockets join the owner's zloop; the owner's reader functions
    get the peer as their argument. zloop may still call the reader of a
    socket removed earlier in the same turn, so a retired peer leaves the
    loop at once but is freed only at the next resolution.

    It also keeps what is per address: silence (nothing heard for
    BUS_SUBSCRIBER_PEER_SILENT_MS reconnects both sockets, which is what a
    refused CURVE client needs) and malformed-frame accounting (counted
    always, logged at most once per BUS_SUBSCRIBER_LOG_MS).
    =========================================================================
*/
#ifndef BUS_PEERS_H_INCLUDED
#define BUS_PEERS_H_INCLUDED

#include "bus_subscriber.h"

typedef struct bus_peers bus_peers_t;
typedef struct bus_peer bus_peer_t;

//  Called before a peer is retired, so the owner can forget it.
typedef void(bus_peer_retire_fn)(bus_peer_t *peer, void *owner);

typedef struct {
    const char *consumer;            //  consumer group, for logs and labels (copied)
    const char *publishers;          //  as bus_peers_valid accepts (copied)
    int rcvhwm;                      //  SUB receive HWM, 0 = ZeroMQ's
    const char *curve_client_cert;   //  our secret cert, or NULL (copied)
    const char *curve_server_public; //  the publishers' public cert (copied)
    zloop_t *loop;                   //  the owner's loop (borrowed)
    zloop_reader_fn *on_live;        //  a peer's SUB is readable; arg = the peer
    zloop_reader_fn *on_reply;       //  a peer's DEALER is readable; arg = the peer
    bus_peer_retire_fn *on_retire;   //  a peer is about to be retired
    void *owner;                     //  given back by bus_peer_owner and on_retire
    svc_log_t *log;                  //  borrowed
    svc_metrics_t *metrics;          //  borrowed
} bus_peers_config_t;

//  True if `publishers` is a comma-separated list of 1 to
//  BUS_SUBSCRIBER_HOSTS_MAX "tcp://host:port" (IPv6 literals in brackets,
//  port 1-65534 so that port + 1 is one too; spaces after commas allowed).
bool bus_peers_valid(const char *publishers);

//  Create the set, with no peer yet (bus_peers_resolve adds them).
//  `config->publishers` must be valid (asserted). Caller owns return value.
bus_peers_t *bus_peers_new(const bus_peers_config_t *config);

//  Close every peer's sockets; nulls the pointer. Call it after the loop
//  stopped; it does not touch the loop.
void bus_peers_destroy(bus_peers_t **self_p);

//  Resolve every host and add or retire peers (blocks in getaddrinfo).
void bus_peers_resolve(bus_peers_t *self);

//  Reconnect the peers silent for BUS_SUBSCRIBER_PEER_SILENT_MS.
void bus_peers_tick(bus_peers_t *self, int64_t now_ms);

//  True when every configured host has at least one address that was
//  heard from (anything on its SUB) and is not silent now.
bool bus_peers_ready(bus_peers_t *self);

//  Number of peers and of configured hosts.
size_t bus_peers_size(bus_peers_t *self);
size_t bus_peers_hosts(bus_peers_t *self);

//  A peer's owner (bus_peers_config_t.owner), sockets and endpoint. The
//  peer and what it returns are borrowed until it is retired.
void *bus_peer_owner(bus_peer_t *peer);
zsock_t *bus_peer_sub(bus_peer_t *peer);

//  Call `fn` for every peer in the loop (not the retired ones).
void bus_peers_each(bus_peers_t *self, void (*fn)(bus_peer_t *peer, void *arg), void *arg);
zsock_t *bus_peer_dealer(bus_peer_t *peer);
const char *bus_peer_endpoint(bus_peer_t *peer);

//  The stream this peer last spoke for ("" if none yet), and setting it.
const char *bus_peer_stream(bus_peer_t *peer);
void bus_peer_set_stream(bus_peer_t *peer, const char *stream);

//  Something arrived from the peer: it is not silent.
void bus_peer_heard(bus_peer_t *peer);

//  A frame from the peer did not decode (`reason` says how): count it in
//  bus_malformed_frames_total and log it, at most once per interval.
void bus_peer_malformed(bus_peer_t *peer, const char *reason);

#endif
