/*  =========================================================================
    bus_control - the wire codec of the bus's control messages

    Heartbeat (docs/protocol.md section 4.2), ReplayRequest and ReplayReply
    (section 4.3) decode into small plain structs that need no destroy, and
    encode from them. Each is checked both ways by the rules stated below,
    so a peer never sends what readers drop.

        bus_heartbeat_t heartbeat = {
            .stream = "order-0", .last_seq = 42, .first_seq = 1, .interval_ms = 1000};
        zframe_t *packed = bus_heartbeat_encode(&heartbeat);
        ...     //  bus_heartbeat_encode_live for the PUB socket (bus_live.h)
        bus_heartbeat_t received;
        if (bus_heartbeat_decode(zframe_data(packed), zframe_size(packed), &received) == BUS_OK) {
            //  received.stream, received.last_seq, ...
        }
    =========================================================================
*/
#ifndef BUS_CONTROL_H_INCLUDED
#define BUS_CONTROL_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#include "ev/v1/bus.pb-c.h"
#include "bus_rc.h"
#include "bus_envelope.h"

//  Largest control message frame (Heartbeat, ReplayRequest, ReplayReply)
//  accepted, in bytes; they hold a stream name and a few integers.
#define BUS_CONTROL_FRAME_MAX 4096

//  A publisher's heartbeat (docs/protocol.md section 4.2).
typedef struct {
    char stream[BUS_STREAM_NAME_MAX + 1]; //  stream id, NUL-terminated
    uint64_t last_seq;                    //  highest published seq, 0 when empty
    uint64_t first_seq;                   //  lowest seq still held, at most last_seq + 1
    uint32_t interval_ms;                 //  heartbeat period, at least 1
} bus_heartbeat_t;

//  A subscriber's replay request (docs/protocol.md section 4.3).
typedef struct {
    char stream[BUS_STREAM_NAME_MAX + 1]; //  stream id, NUL-terminated
    uint64_t from_seq;                    //  first seq wanted, at least 1
    uint32_t max_events;                  //  most events wanted, at least 1
} bus_replay_request_t;

//  What a publisher did with a replay request; the wire values of
//  ev.v1.ReplayReply.Status.
typedef enum {
    BUS_REPLAY_OK = EV__V1__REPLAY_REPLY__STATUS__OK,
    BUS_REPLAY_TRIMMED = EV__V1__REPLAY_REPLY__STATUS__TRIMMED,
    BUS_REPLAY_UNKNOWN_STREAM = EV__V1__REPLAY_REPLY__STATUS__UNKNOWN_STREAM,
    BUS_REPLAY_BAD_REQUEST = EV__V1__REPLAY_REPLY__STATUS__BAD_REQUEST
} bus_replay_status_t;

//  A publisher's replay reply header; the events follow in their own
//  frames (docs/protocol.md section 4.3).
typedef struct {
    char stream[BUS_STREAM_NAME_MAX + 1]; //  stream id; empty only with BAD_REQUEST
    bus_replay_status_t status;           //  what was done
    uint64_t from_seq;                    //  seq of the first event that follows
    uint64_t to_seq;                      //  seq of the last one, from_seq - 1 if none
    uint64_t last_seq;                    //  the stream's highest committed seq
    uint64_t first_seq;                   //  the lowest seq the log still holds
} bus_replay_reply_t;

//  Pack a heartbeat into a new frame. Returns NULL if it is not valid:
//  stream as bus_envelope_stream_valid, interval_ms >= 1 and first_seq <=
//  last_seq + 1. Caller owns return value; destroy it with zframe_destroy.
zframe_t *bus_heartbeat_encode(const bus_heartbeat_t *heartbeat);

//  Pack a heartbeat as it is published live (docs/protocol.md section
//  4.2): one frame of its topic "$hb/<stream>", BUS_TOPIC_SEPARATOR and
//  the packed heartbeat. Returns NULL if it is not valid (the rules of
//  bus_heartbeat_encode). Caller owns return value; destroy it with
//  zframe_destroy.
zframe_t *bus_heartbeat_encode_live(const bus_heartbeat_t *heartbeat);

//  Unpack and validate a heartbeat (the rules of bus_heartbeat_encode).
//  Returns BUS_OK and fills *heartbeat_out, BUS_TOO_LARGE if size >
//  BUS_CONTROL_FRAME_MAX or over the unpacking budget, or BUS_MALFORMED;
//  on failure *heartbeat_out is not touched.
bus_rc_t bus_heartbeat_decode(const void *data, size_t size, bus_heartbeat_t *heartbeat_out);

//  Pack a replay request into a new frame. Returns NULL if it is not valid:
//  stream as bus_envelope_stream_valid, from_seq >= 1, max_events >= 1.
//  Caller owns return value; destroy it with zframe_destroy.
zframe_t *bus_replay_request_encode(const bus_replay_request_t *request);

//  Unpack and validate a replay request (the rules of
//  bus_replay_request_encode). Returns BUS_OK and fills *request_out,
//  BUS_TOO_LARGE if size > BUS_CONTROL_FRAME_MAX or over the unpacking
//  budget, or BUS_MALFORMED; on failure *request_out is not touched.
bus_rc_t
bus_replay_request_decode(const void *data, size_t size, bus_replay_request_t *request_out);

//  Pack a replay reply into a new frame. Returns NULL if it is not valid:
//  status one of bus_replay_status_t; stream as bus_envelope_stream_valid,
//  or empty with BUS_REPLAY_BAD_REQUEST; with BUS_REPLAY_OK from_seq >= 1
//  and to_seq >= from_seq - 1; with BUS_REPLAY_TRIMMED from_seq >= 1.
//  Caller owns return value; destroy it with zframe_destroy.
zframe_t *bus_replay_reply_encode(const bus_replay_reply_t *reply);

//  Unpack and validate a replay reply (the rules of
//  bus_replay_reply_encode; an unknown status is malformed). Returns BUS_OK
//  and fills *reply_out, BUS_TOO_LARGE if size > BUS_CONTROL_FRAME_MAX or
//  over the unpacking budget, or BUS_MALFORMED; on failure *reply_out is
//  not touched.
bus_rc_t bus_replay_reply_decode(const void *data, size_t size, bus_replay_reply_t *reply_out);

#endif
