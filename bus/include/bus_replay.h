/*  =========================================================================
    bus_replay - the replay server of a stream: answers ReplayRequests

    A publisher's ROUTER socket (docs/protocol.md section 4.3). Subscribers
    ask it for the events they missed; it reads them from the event log
    (bus_events) on a PostgreSQL connection of its own, so a replay never
    waits for, or holds up, the stream's writer. Each answer is one
    ReplayReply frame followed by the packed envelopes exactly as they were
    published live: at most min(max_events, BUS_REPLAY_EVENTS_MAX) events
    and at most BUS_REPLAY_BYTES_MAX bytes of envelopes (always at least
    one event when any is due), read in one statement so that the events,
    last_seq and first_seq come from the same snapshot.

    bus_stream starts one for each stream; it is an actor of its own so it
    can also run beside a writer in another process:

        zsock_t *router = zsock_new(ZMQ_ROUTER);
        zsock_set_maxmsgsize(router, BUS_FRAME_MAX);
        zsock_bind(router, "tcp://127.0.0.1:5561");
        bus_replay_config_t config = {.stream = "order-0", .conninfo = dsn,
                                      .router = router, .log = log, .metrics = metrics};
        zactor_t *replay = zactor_new(bus_replay_server, &config);   //  config.router is NULL now
        ...
        zactor_destroy(&replay);

    While the database is unreachable a request gets no answer (the
    protocol has no status for it): the subscriber's request times out and
    it asks again. The server reconnects, at most once per backoff period
    (BUS_RECONNECT_MIN_MS doubling to BUS_RECONNECT_MAX_MS), when a request
    arrives.
    =========================================================================
*/
#ifndef BUS_REPLAY_H_INCLUDED
#define BUS_REPLAY_H_INCLUDED

#include <czmq.h>

#include "svc_log.h"
#include "svc_metrics.h"

//  Most events in one reply, whatever the request asks for.
#define BUS_REPLAY_EVENTS_MAX 1000

//  Most bytes of envelopes in one reply (1 MiB).
#define BUS_REPLAY_BYTES_MAX (1024 * 1024)

//  Peers whose bad requests are remembered, so that each is logged once;
//  past this many the set is cleared (memory stays bounded).
#define BUS_REPLAY_BAD_PEERS_MAX 1024

typedef struct {
    const char *stream;     //  the stream this server answers for (copied)
    const char *conninfo;   //  libpq connection string of the event log's database (copied)
    zsock_t *router;        //  a bound ROUTER socket: the actor takes it and sets this to NULL
    svc_log_t *log;         //  borrowed, outlives the actor
    svc_metrics_t *metrics; //  borrowed, outlives the actor
} bus_replay_config_t;

//  The actor: zactor_new(bus_replay_server, &config). `args` is a
//  bus_replay_config_t *, read (and its router taken) before zactor_new
//  returns, so it may live on the caller's stack. The database is reached
//  lazily, at the first request. Pipe commands, each answered:
//    "PORT"     -> "i" the ROUTER's bound TCP port (0 if not TCP)
//    "$TERM"    ends the actor
void bus_replay_server(zsock_t *pipe, void *args);

#endif
