/*  =========================================================================
    bus_control - the wire codec of the bus's control messages

    Heartbeat (docs/protocol.md section 4.2), ReplayRequest and ReplayReply
    (section 4.3): each is unpacked with bus_codec (one arena on a budget,
    bus_wire first), checked, and copied into a plain struct, so that its
    callers hold no protobuf-c memory; each is checked the same way before
    it is packed, so a peer never sends what readers drop.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_codec.h"
#include "bus_control.h"

//  ---------------------------------------------------------------------
//  True if a plain struct's stream array holds a valid stream id, or an
//  empty one if `empty_ok`. The array may come unterminated from a caller.

static bool
s_stream_field_valid(const char stream[BUS_STREAM_NAME_MAX + 1], bool empty_ok)
{
    if (!memchr(stream, '\0', BUS_STREAM_NAME_MAX + 1)) {
        return false;
    }
    return (empty_ok && stream[0] == '\0') || bus_envelope_stream_valid(stream);
}

//  ---------------------------------------------------------------------
//  Copy an unpacked stream id into a plain struct's array; false if it is
//  neither valid nor (with `empty_ok`) empty. Nothing is written then.

static bool
s_stream_copy(char stream[BUS_STREAM_NAME_MAX + 1], const char *text, bool empty_ok)
{
    if (!text || !((empty_ok && !*text) || bus_envelope_stream_valid(text))) {
        return false;
    }
    //  Valid means at most BUS_STREAM_NAME_MAX bytes before the NUL.
    memcpy(stream, text, strlen(text) + 1);
    return true;
}

//  ---------------------------------------------------------------------
//  The heartbeat rules: a stream, a period, and first_seq <= last_seq + 1
//  (written so that it cannot overflow).

static bool
s_heartbeat_valid(const bus_heartbeat_t *heartbeat)
{
    return s_stream_field_valid(heartbeat->stream, false) && heartbeat->interval_ms >= 1 &&
           (heartbeat->first_seq == 0 || heartbeat->first_seq - 1 <= heartbeat->last_seq);
}

//  ---------------------------------------------------------------------
//  Pack a heartbeat, after `topic` and its separator if not NULL.

static zframe_t *
s_heartbeat_pack(const bus_heartbeat_t *heartbeat, const char *topic)
{
    Ev__V1__Heartbeat message = EV__V1__HEARTBEAT__INIT;
    message.stream = (char *) heartbeat->stream;
    message.last_seq = heartbeat->last_seq;
    message.first_seq = heartbeat->first_seq;
    message.interval_ms = heartbeat->interval_ms;
    return bus_codec_pack(&message.base, topic, BUS_CONTROL_FRAME_MAX);
}

//  ---------------------------------------------------------------------
//  Pack a heartbeat.

zframe_t *
bus_heartbeat_encode(const bus_heartbeat_t *heartbeat)
{
    assert(heartbeat);
    if (!s_heartbeat_valid(heartbeat)) {
        return NULL;
    }
    return s_heartbeat_pack(heartbeat, NULL);
}

//  ---------------------------------------------------------------------
//  Pack a heartbeat as published live: "$hb/<stream>", the separator,
//  the heartbeat.

zframe_t *
bus_heartbeat_encode_live(const bus_heartbeat_t *heartbeat)
{
    assert(heartbeat);
    if (!s_heartbeat_valid(heartbeat)) {
        return NULL;
    }
    char topic[BUS_TOPIC_SIZE];
    int length = bus_heartbeat_topic(heartbeat->stream, topic, sizeof topic);
    assert(length > 0); //  a valid stream id always fits
    return s_heartbeat_pack(heartbeat, topic);
}

//  ---------------------------------------------------------------------
//  Unpack and validate a heartbeat.

bus_rc_t
bus_heartbeat_decode(const void *data, size_t size, bus_heartbeat_t *heartbeat_out)
{
    assert(data || size == 0);
    assert(heartbeat_out);
    if (size > BUS_CONTROL_FRAME_MAX) {
        return BUS_TOO_LARGE;
    }
    ProtobufCMessage *unpacked = NULL;
    bus_rc_t rc = bus_codec_unpack(&ev__v1__heartbeat__descriptor, data, size, false, &unpacked);
    if (rc != BUS_OK) {
        return rc;
    }
    const Ev__V1__Heartbeat *message = (const Ev__V1__Heartbeat *) unpacked;
    rc = BUS_MALFORMED;
    bus_heartbeat_t heartbeat = {.last_seq = message->last_seq,
                                 .first_seq = message->first_seq,
                                 .interval_ms = message->interval_ms};
    if (s_stream_copy(heartbeat.stream, message->stream, false) && s_heartbeat_valid(&heartbeat)) {
        *heartbeat_out = heartbeat;
        rc = BUS_OK;
    }
    bus_codec_free(&unpacked);
    return rc;
}

//  ---------------------------------------------------------------------
//  The replay request rules: a stream, from_seq >= 1, max_events >= 1.

static bool
s_replay_request_valid(const bus_replay_request_t *request)
{
    return s_stream_field_valid(request->stream, false) && request->from_seq >= 1 &&
           request->max_events >= 1;
}

//  ---------------------------------------------------------------------
//  Pack a replay request.

zframe_t *
bus_replay_request_encode(const bus_replay_request_t *request)
{
    assert(request);
    if (!s_replay_request_valid(request)) {
        return NULL;
    }
    Ev__V1__ReplayRequest message = EV__V1__REPLAY_REQUEST__INIT;
    message.stream = (char *) request->stream;
    message.from_seq = request->from_seq;
    message.max_events = request->max_events;
    return bus_codec_pack(&message.base, NULL, BUS_CONTROL_FRAME_MAX);
}

//  ---------------------------------------------------------------------
//  Unpack and validate a replay request.

bus_rc_t
bus_replay_request_decode(const void *data, size_t size, bus_replay_request_t *request_out)
{
    assert(data || size == 0);
    assert(request_out);
    if (size > BUS_CONTROL_FRAME_MAX) {
        return BUS_TOO_LARGE;
    }
    ProtobufCMessage *unpacked = NULL;
    bus_rc_t rc =
        bus_codec_unpack(&ev__v1__replay_request__descriptor, data, size, false, &unpacked);
    if (rc != BUS_OK) {
        return rc;
    }
    const Ev__V1__ReplayRequest *message = (const Ev__V1__ReplayRequest *) unpacked;
    rc = BUS_MALFORMED;
    bus_replay_request_t request = {.from_seq = message->from_seq,
                                    .max_events = message->max_events};
    if (s_stream_copy(request.stream, message->stream, false) && s_replay_request_valid(&request)) {
        *request_out = request;
        rc = BUS_OK;
    }
    bus_codec_free(&unpacked);
    return rc;
}

//  ---------------------------------------------------------------------
//  True if a wire status value is one of bus_replay_status_t.

static bool
s_replay_status_known(int status)
{
    return status == BUS_REPLAY_OK || status == BUS_REPLAY_TRIMMED ||
           status == BUS_REPLAY_UNKNOWN_STREAM || status == BUS_REPLAY_BAD_REQUEST;
}

//  ---------------------------------------------------------------------
//  The replay reply rules (see bus_replay_reply_encode in the header).

static bool
s_replay_reply_valid(const bus_replay_reply_t *reply)
{
    if (!s_replay_status_known((int) reply->status) ||
        !s_stream_field_valid(reply->stream, reply->status == BUS_REPLAY_BAD_REQUEST)) {
        return false;
    }
    if (reply->status == BUS_REPLAY_OK) {
        return reply->from_seq >= 1 && reply->to_seq >= reply->from_seq - 1;
    }
    if (reply->status == BUS_REPLAY_TRIMMED) {
        return reply->from_seq >= 1;
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Pack a replay reply.

zframe_t *
bus_replay_reply_encode(const bus_replay_reply_t *reply)
{
    assert(reply);
    if (!s_replay_reply_valid(reply)) {
        return NULL;
    }
    Ev__V1__ReplayReply message = EV__V1__REPLAY_REPLY__INIT;
    message.stream = (char *) reply->stream;
    message.status = (Ev__V1__ReplayReply__Status) reply->status;
    message.from_seq = reply->from_seq;
    message.to_seq = reply->to_seq;
    message.last_seq = reply->last_seq;
    message.first_seq = reply->first_seq;
    return bus_codec_pack(&message.base, NULL, BUS_CONTROL_FRAME_MAX);
}

//  ---------------------------------------------------------------------
//  Unpack and validate a replay reply. The status is checked before it is
//  stored in a bus_replay_status_t, which holds only the known values.

bus_rc_t
bus_replay_reply_decode(const void *data, size_t size, bus_replay_reply_t *reply_out)
{
    assert(data || size == 0);
    assert(reply_out);
    if (size > BUS_CONTROL_FRAME_MAX) {
        return BUS_TOO_LARGE;
    }
    ProtobufCMessage *unpacked = NULL;
    bus_rc_t rc = bus_codec_unpack(&ev__v1__replay_reply__descriptor, data, size, false, &unpacked);
    if (rc != BUS_OK) {
        return rc;
    }
    const Ev__V1__ReplayReply *message = (const Ev__V1__ReplayReply *) unpacked;
    rc = BUS_MALFORMED;
    if (s_replay_status_known((int) message->status)) {
        bus_replay_reply_t reply = {.status = (bus_replay_status_t) message->status,
                                    .from_seq = message->from_seq,
                                    .to_seq = message->to_seq,
                                    .last_seq = message->last_seq,
                                    .first_seq = message->first_seq};
        bool empty_ok = reply.status == BUS_REPLAY_BAD_REQUEST;
        if (s_stream_copy(reply.stream, message->stream, empty_ok) &&
            s_replay_reply_valid(&reply)) {
            *reply_out = reply;
            rc = BUS_OK;
        }
    }
    bus_codec_free(&unpacked);
    return rc;
}
