/*  =========================================================================
    bus_decode_fuzz - libFuzzer target for the bus's wire codec

    Every input goes to bus_envelope_decode, to each control message
    decoder and to bus_live_read as a one-frame live message, as any frame
    from the network could. Beyond "no crash, no leak,
    no undefined behaviour" (ASan, UBSan, LeakSanitizer) the target checks
    the codec's promises and aborts when one breaks:
      - a decoder hands out a result exactly when it returns BUS_OK (or
        BUS_UNKNOWN_TYPE for envelopes), and nothing otherwise;
      - what decodes validates the same way, has a topic that fits
        BUS_TOPIC_SIZE, and encodes; the encoding decodes with the same
        code and encodes to the same bytes again (a relay is stable);
      - the decoder agrees with protobuf-c alone (the reference for the
        bus's one-pass codec, bus_wire): what protobuf-c cannot unpack does
        not decode; what it unpacks validates to the decoder's code, and
        what decodes packs to the bytes protobuf-c packs the reference to,
        and encodes to them too;
      - a live message reads as an event only if its topic is the decoded
        envelope's and the envelope kept exactly the bytes after the
        separator, and reads the same when encoded live again; as a
        heartbeat only under its own topic; as malformed with a reason and
        nothing handed out otherwise.
    =========================================================================
*/
#undef NDEBUG
#include "bus.h"
#include <assert.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

//  ---------------------------------------------------------------------
//  The decoder against protobuf-c alone (the last promise above).

static void
s_check_against_protobuf_c(const uint8_t *data,
                           size_t size,
                           bus_rc_t rc,
                           const Ev__V1__Envelope *envelope)
{
    Ev__V1__Envelope *reference = ev__v1__envelope__unpack(NULL, size, data);
    if (!reference) {
        assert(rc == BUS_MALFORMED || rc == BUS_TOO_LARGE);
        return;
    }
    if (rc != BUS_TOO_LARGE) {
        assert(bus_envelope_validate(reference) == rc);
    }
    if (envelope) {
        size_t expected_size = protobuf_c_message_get_packed_size(&reference->base);
        uint8_t *expected = (uint8_t *) zmalloc(expected_size + 1);
        uint8_t *decoded = (uint8_t *) zmalloc(expected_size + 1);
        assert(protobuf_c_message_pack(&reference->base, expected) == expected_size);
        assert(protobuf_c_message_get_packed_size(&envelope->base) == expected_size);
        assert(protobuf_c_message_pack(&envelope->base, decoded) == expected_size);
        assert(memcmp(decoded, expected, expected_size) == 0);
        zframe_t *encoded = bus_envelope_encode(envelope);
        assert(encoded && zframe_size(encoded) == expected_size);
        assert(memcmp(zframe_data(encoded), expected, expected_size) == 0);
        zframe_destroy(&encoded);
        freen(decoded);
        freen(expected);
    }
    ev__v1__envelope__free_unpacked(reference, NULL);
}

//  ---------------------------------------------------------------------
//  Decode an envelope; check the promises above on what comes out.

static void
s_fuzz_envelope(const uint8_t *data, size_t size)
{
    Ev__V1__Envelope *envelope = (Ev__V1__Envelope *) &envelope;
    bus_rc_t rc = bus_envelope_decode(data, size, &envelope);
    if (rc != BUS_OK && rc != BUS_UNKNOWN_TYPE) {
        assert(rc == BUS_MALFORMED || rc == BUS_TOO_LARGE);
        assert(envelope == NULL);
        s_check_against_protobuf_c(data, size, rc, NULL);
        return;
    }
    s_check_against_protobuf_c(data, size, rc, envelope);
    assert(envelope);
    assert(bus_envelope_validate(envelope) == rc);
    char topic[BUS_TOPIC_SIZE];
    assert(bus_envelope_topic(envelope, topic, sizeof topic) > 0);

    zframe_t *packed = bus_envelope_encode(envelope);
    assert(packed);
    Ev__V1__Envelope *again = NULL;
    assert(bus_envelope_decode(zframe_data(packed), zframe_size(packed), &again) == rc);
    zframe_t *repacked = bus_envelope_encode(again);
    assert(repacked);
    assert(zframe_eq(packed, repacked));
    zframe_destroy(&repacked);
    zframe_destroy(&packed);
    bus_envelope_destroy(&again);
    bus_envelope_destroy(&envelope);
}

//  ---------------------------------------------------------------------
//  Heartbeat: what decodes encodes and decodes to the same values.

static void
s_fuzz_heartbeat(const uint8_t *data, size_t size)
{
    bus_heartbeat_t heartbeat;
    if (bus_heartbeat_decode(data, size, &heartbeat) != BUS_OK) {
        return;
    }
    zframe_t *packed = bus_heartbeat_encode(&heartbeat);
    assert(packed);
    bus_heartbeat_t again;
    assert(bus_heartbeat_decode(zframe_data(packed), zframe_size(packed), &again) == BUS_OK);
    assert(streq(again.stream, heartbeat.stream));
    assert(again.last_seq == heartbeat.last_seq && again.first_seq == heartbeat.first_seq);
    assert(again.interval_ms == heartbeat.interval_ms);
    zframe_destroy(&packed);
}

//  ---------------------------------------------------------------------
//  Replay request: the same.

static void
s_fuzz_replay_request(const uint8_t *data, size_t size)
{
    bus_replay_request_t request;
    if (bus_replay_request_decode(data, size, &request) != BUS_OK) {
        return;
    }
    zframe_t *packed = bus_replay_request_encode(&request);
    assert(packed);
    bus_replay_request_t again;
    assert(bus_replay_request_decode(zframe_data(packed), zframe_size(packed), &again) == BUS_OK);
    assert(streq(again.stream, request.stream));
    assert(again.from_seq == request.from_seq && again.max_events == request.max_events);
    zframe_destroy(&packed);
}

//  ---------------------------------------------------------------------
//  Replay reply: the same.

static void
s_fuzz_replay_reply(const uint8_t *data, size_t size)
{
    bus_replay_reply_t reply;
    if (bus_replay_reply_decode(data, size, &reply) != BUS_OK) {
        return;
    }
    zframe_t *packed = bus_replay_reply_encode(&reply);
    assert(packed);
    bus_replay_reply_t again;
    assert(bus_replay_reply_decode(zframe_data(packed), zframe_size(packed), &again) == BUS_OK);
    assert(streq(again.stream, reply.stream) && again.status == reply.status);
    assert(again.from_seq == reply.from_seq && again.to_seq == reply.to_seq);
    assert(again.last_seq == reply.last_seq && again.first_seq == reply.first_seq);
    zframe_destroy(&packed);
}

//  ---------------------------------------------------------------------
//  The input as a one-frame live message (the promises above).

static void
s_fuzz_live(const uint8_t *data, size_t size)
{
    bus_live_t live;
    bus_live_read(data, size, NULL, 0, 1, &live);
    int length = bus_live_topic_length(data, size);
    char topic[BUS_TOPIC_SIZE];
    if (live.kind == BUS_LIVE_MALFORMED) {
        assert(!live.envelope && live.reason);
        return;
    }
    assert(length >= 0);
    size_t body_at = (size_t) length + 1;
    if (live.kind == BUS_LIVE_HEARTBEAT) {
        assert(!live.envelope);
        assert(bus_heartbeat_topic(live.heartbeat.stream, topic, sizeof topic) == length);
        assert(memcmp(topic, data, body_at) == 0);
        return;
    }
    assert(live.kind == BUS_LIVE_EVENT && live.envelope);
    assert(live.rc == BUS_OK || live.rc == BUS_UNKNOWN_TYPE);
    assert(bus_envelope_topic(live.envelope, topic, sizeof topic) == length);
    assert(memcmp(topic, data, body_at) == 0);
    assert(bus_envelope_packed_size(live.envelope) == size - body_at);
    assert(memcmp(bus_envelope_packed(live.envelope), data + body_at, size - body_at) == 0);
    zmq_msg_t again;
    assert(bus_envelope_encode_live(live.envelope, &again) == 0);
    bus_live_t reread;
    bus_live_read(zmq_msg_data(&again), zmq_msg_size(&again), NULL, 0, 1, &reread);
    assert(reread.kind == BUS_LIVE_EVENT && reread.rc == live.rc);
    assert(reread.envelope->seq == live.envelope->seq);
    bus_envelope_destroy(&reread.envelope);
    zmq_msg_close(&again);
    bus_envelope_destroy(&live.envelope);
}

//  ---------------------------------------------------------------------
//  libFuzzer's entry point: one input, every decoder.

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_fuzz_envelope(data, size);
    s_fuzz_heartbeat(data, size);
    s_fuzz_replay_request(data, size);
    s_fuzz_replay_reply(data, size);
    s_fuzz_live(data, size);
    return 0;
}
