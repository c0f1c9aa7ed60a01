/*  =========================================================================
    bus_writer - the writer actor of a stream (private to bus)

    bus_stream_new binds the sockets and starts this actor with
    zactor_new(bus_writer, &args); bus_stream.h is the public face. The
    actor answers on its pipe:
        "PORTS"   -> "ii" PUB port, replay port
        "READY?"  -> "i" 1 while the database is reachable and the tail known
        "$TERM"   settles what it can, answers queued units BUS_CLOSED, ends
    =========================================================================
*/
#ifndef BUS_WRITER_H_INCLUDED
#define BUS_WRITER_H_INCLUDED

#include "bus_stream.h"

typedef struct {
    const bus_stream_config_t *config; //  read (and copied) before zactor_new returns
    zsock_t *pub;                      //  bound PUB: the actor takes it and sets this NULL
    zsock_t *router;                   //  bound replay ROUTER: taken likewise, for bus_replay
    const char *units_endpoint;        //  inproc endpoint the actor binds for producers
    int pub_port;                      //  bound PUB port
    int replay_port;                   //  bound ROUTER port
} bus_writer_args_t;

//  A producer's submission: one frame holding this struct (the writer's
//  ROUTER prepends the producer's routing id).
typedef struct {
    bus_batch_fn *batch; //  its set-based half, or NULL
    bus_work_fn *fn;     //  the work
    void *arg;           //  its argument
    void *tag;           //  the producer's tag
} bus_writer_submit_t;

//  The writer's answer to one submission: one frame holding this struct.
typedef struct {
    void *tag;         //  the submission's tag
    uint64_t last_seq; //  seq of its last event if committed, else 0
    int32_t rc;        //  a bus_rc_t
} bus_writer_completion_t;

//  The actor; `args` is a bus_writer_args_t *.
void bus_writer(zsock_t *pipe, void *args);

#endif
