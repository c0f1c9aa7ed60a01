/*  =========================================================================
    bus_live - reading the live path: one event or heartbeat per message

    A publisher sends each event and each heartbeat on its PUB socket as
    one frame: the topic ("<type>/<stream>" or "$hb/<stream>"), a NUL
    (BUS_TOPIC_SEPARATOR) and the packed Envelope or Heartbeat
    (bus_envelope_encode_live, bus_heartbeat_encode_live; docs/protocol.md
    section 4). Publishers before that sent two frames, [topic][body]; a
    reader takes both forms, which the frame count tells apart, so that
    subscribers can be upgraded first. A message of any other shape, a
    body that does not decode, or a topic that is not the body's own
    ("<envelope.type>/<envelope.stream>", "$hb/<heartbeat.stream>") is
    malformed.

    The reader receives into two ZeroMQ messages that it reuses, so a live
    message costs no allocation beyond ZeroMQ's own and the decoded
    envelope's one arena, which also keeps the envelope's packed bytes
    (bus_envelope_packed): nothing handed out points into the reader.

        bus_live_reader_t *reader = bus_live_reader_new();
        bus_live_t live;
        while (bus_live_reader_recv(reader, zsock_resolve(sub), ZMQ_DONTWAIT, &live) == 0) {
            if (live.kind == BUS_LIVE_EVENT) {
                //  live.envelope (live.rc: BUS_OK or BUS_UNKNOWN_TYPE)
                bus_envelope_destroy(&live.envelope);
            } else if (live.kind == BUS_LIVE_HEARTBEAT) {
                //  live.heartbeat
            } else {
                //  count, and log live.reason
            }
        }
        bus_live_reader_destroy(&reader);
    =========================================================================
*/
#ifndef BUS_LIVE_H_INCLUDED
#define BUS_LIVE_H_INCLUDED

#include <czmq.h>
#include <stddef.h>

#include "ev/v1/envelope.pb-c.h"
#include "bus_rc.h"
#include "bus_envelope.h"
#include "bus_control.h"

//  What a live message is.
typedef enum {
    BUS_LIVE_MALFORMED = 0, //  neither of the others: `reason` says why
    BUS_LIVE_EVENT,         //  an event: `envelope`, `rc`
    BUS_LIVE_HEARTBEAT      //  a heartbeat: `heartbeat`
} bus_live_kind_t;

//  A live message, read.
typedef struct {
    bus_live_kind_t kind;       //  what it is
    bus_rc_t rc;                //  EVENT: BUS_OK or BUS_UNKNOWN_TYPE; MALFORMED: the failure
    Ev__V1__Envelope *envelope; //  EVENT: decoded; caller owns it (bus_envelope_destroy); else NULL
    bus_heartbeat_t heartbeat;  //  HEARTBEAT: decoded
    const char *reason;         //  MALFORMED: why, for a log line (static text); else NULL
} bus_live_t;

typedef struct bus_live_reader bus_live_reader_t;

//  A reader of live messages. Caller owns return value; destroy it with
//  bus_live_reader_destroy.
bus_live_reader_t *bus_live_reader_new(void);

//  Destroy a reader; accepts a NULL *self_p and nulls it.
void bus_live_reader_destroy(bus_live_reader_t **self_p);

//  Receive one message from `socket` (a libzmq socket handle, e.g. a SUB's
//  zsock_resolve; `flags` 0 or ZMQ_DONTWAIT, as for zmq_msg_recv) and read
//  it as bus_live_read does. A message of more than two frames is received
//  to its end, and is malformed. Returns 0 and fills *live_out, or -1 if
//  no message was received (errno as zmq_msg_recv left it: EAGAIN when
//  nothing waits or the receive timed out, ETERM, EINTR).
int bus_live_reader_recv(bus_live_reader_t *self, void *socket, int flags, bus_live_t *live_out);

//  Read a live message of `frame_count` frames: one, `first` (topic,
//  separator, body), or two, `first` the topic and `second` the body
//  (NULL with one frame). Any other count is malformed. Fills *live_out;
//  on BUS_LIVE_EVENT the caller owns live_out->envelope.
void bus_live_read(const void *first,
                   size_t first_size,
                   const void *second,
                   size_t second_size,
                   size_t frame_count,
                   bus_live_t *live_out);

//  The length of the topic at the start of a one-frame live message of
//  `size` bytes: where BUS_TOPIC_SEPARATOR is, its body starting one byte
//  later. Returns -1 if there is no separator within the longest topic
//  (BUS_TOPIC_SIZE - 1 bytes) and the byte after it.
int bus_live_topic_length(const void *data, size_t size);

#endif
