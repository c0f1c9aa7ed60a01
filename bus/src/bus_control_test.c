/*  =========================================================================
    bus_control_test - the control messages' codec: heartbeats, replay
    requests and replies

    The first case is the usage example from bus_control.h. Then each
    message round trips (a heartbeat in its live form too), each invalid one (built here and packed with
    protobuf-c directly) is refused by the decoder with nothing written,
    and by the encoder; frames over BUS_CONTROL_FRAME_MAX are refused
    before unpacking, garbage and empty frames are malformed.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_control.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  A stream id of the maximum length, and one byte longer.
#define STREAM_64 "s123456789012345678901234567890123456789012345678901234567890123"
#define STREAM_65 "s1234567890123456789012345678901234567890123456789012345678901234"

//  ---------------------------------------------------------------------
//  Pack any message with protobuf-c, as a peer could.

static zchunk_t *
s_pack(const ProtobufCMessage *message)
{
    size_t size = protobuf_c_message_get_packed_size(message);
    uint8_t *buffer = (uint8_t *) zmalloc(size + 1);
    assert_int_equal(protobuf_c_message_pack(message, buffer), size);
    zchunk_t *chunk = zchunk_new(buffer, size);
    freen(buffer);
    return chunk;
}

//  ---------------------------------------------------------------------
//  The usage example of bus_control.h.

static void
test_usage_example(void **state)
{
    (void) state;
    bus_heartbeat_t heartbeat = {
        .stream = "order-0", .last_seq = 42, .first_seq = 1, .interval_ms = 1000};
    zframe_t *packed = bus_heartbeat_encode(&heartbeat);
    assert_non_null(packed);
    bus_heartbeat_t received;
    assert_int_equal(bus_heartbeat_decode(zframe_data(packed), zframe_size(packed), &received),
                     BUS_OK);
    assert_string_equal(received.stream, "order-0");
    assert_int_equal(received.last_seq, 42);
    assert_int_equal(received.first_seq, 1);
    assert_int_equal(received.interval_ms, 1000);
    zframe_destroy(&packed);
}

//  ---------------------------------------------------------------------
//  Heartbeats round trip; each invalid one is refused both ways.

static void
test_heartbeat(void **state)
{
    (void) state;
    bus_heartbeat_t heartbeat = {
        .stream = STREAM_64, .last_seq = UINT64_MAX, .first_seq = 5, .interval_ms = 250};
    zframe_t *frame = bus_heartbeat_encode(&heartbeat);
    assert_non_null(frame);
    bus_heartbeat_t back;
    assert_int_equal(bus_heartbeat_decode(zframe_data(frame), zframe_size(frame), &back), BUS_OK);
    assert_string_equal(back.stream, STREAM_64);
    assert_true(back.last_seq == UINT64_MAX);
    assert_int_equal(back.first_seq, 5);
    assert_int_equal(back.interval_ms, 250);
    zframe_destroy(&frame);

    //  An empty stream, and one whose events retention all removed.
    const uint64_t valid[][2] = {{0, 0}, {0, 1}, {10, 11}, {10, 1}};
    for (size_t index = 0; index < sizeof valid / sizeof valid[0]; index++) {
        Ev__V1__Heartbeat message = EV__V1__HEARTBEAT__INIT;
        message.stream = (char *) "order-0";
        message.last_seq = valid[index][0];
        message.first_seq = valid[index][1];
        message.interval_ms = 1000;
        zchunk_t *packed = s_pack(&message.base);
        assert_int_equal(bus_heartbeat_decode(zchunk_data(packed), zchunk_size(packed), &back),
                         BUS_OK);
        zchunk_destroy(&packed);
    }

    const struct {
        const char *stream;
        uint64_t last_seq;
        uint64_t first_seq;
        uint32_t interval_ms;
    } invalid[] = {
        {"", 1, 1, 1000},        {"Order-0", 1, 1, 1000},   {STREAM_65, 1, 1, 1000},
        {"order-0", 1, 1, 0},    {"order-0", 10, 12, 1000}, {"order-0", 0, 2, 1000},
        {"order/0", 1, 1, 1000},
    };
    for (size_t index = 0; index < sizeof invalid / sizeof invalid[0]; index++) {
        Ev__V1__Heartbeat message = EV__V1__HEARTBEAT__INIT;
        message.stream = (char *) invalid[index].stream;
        message.last_seq = invalid[index].last_seq;
        message.first_seq = invalid[index].first_seq;
        message.interval_ms = invalid[index].interval_ms;
        zchunk_t *packed = s_pack(&message.base);
        memset(&back, 0x5a, sizeof back);
        if (bus_heartbeat_decode(zchunk_data(packed), zchunk_size(packed), &back) !=
            BUS_MALFORMED) {
            fail_msg("heartbeat %zu accepted", index);
        }
        assert_int_equal(back.stream[0], 0x5a);
        zchunk_destroy(&packed);

        bus_heartbeat_t plain = {.last_seq = invalid[index].last_seq,
                                 .first_seq = invalid[index].first_seq,
                                 .interval_ms = invalid[index].interval_ms};
        strncpy(plain.stream, invalid[index].stream, BUS_STREAM_NAME_MAX);
        if (strlen(invalid[index].stream) <= BUS_STREAM_NAME_MAX) {
            assert_null(bus_heartbeat_encode(&plain));
        }
    }

    //  A stream array without its NUL is refused, not read past.
    memset(heartbeat.stream, 'a', sizeof heartbeat.stream);
    assert_null(bus_heartbeat_encode(&heartbeat));
}

//  ---------------------------------------------------------------------
//  As published live, a heartbeat is "$hb/<stream>", a NUL and the bytes
//  bus_heartbeat_encode packs (the longest stream too); an invalid one is
//  refused.

static void
test_heartbeat_live(void **state)
{
    (void) state;
    bus_heartbeat_t heartbeat = {
        .stream = STREAM_64, .last_seq = 3, .first_seq = 1, .interval_ms = 1000};
    zframe_t *plain = bus_heartbeat_encode(&heartbeat);
    zframe_t *live = bus_heartbeat_encode_live(&heartbeat);
    assert_non_null(plain);
    assert_non_null(live);
    const char *topic = "$hb/" STREAM_64;
    size_t body_at = strlen(topic) + 1;
    assert_int_equal(zframe_size(live), body_at + zframe_size(plain));
    assert_memory_equal(zframe_data(live), topic, body_at);
    assert_memory_equal(zframe_data(live) + body_at, zframe_data(plain), zframe_size(plain));
    zframe_destroy(&live);
    zframe_destroy(&plain);
    heartbeat.first_seq = 5;
    assert_null(bus_heartbeat_encode_live(&heartbeat));
}

//  ---------------------------------------------------------------------
//  Replay requests round trip; each invalid one is refused both ways.

static void
test_replay_request(void **state)
{
    (void) state;
    bus_replay_request_t request = {
        .stream = "order-0", .from_seq = 4294967297, .max_events = 1000};
    zframe_t *frame = bus_replay_request_encode(&request);
    assert_non_null(frame);
    bus_replay_request_t back;
    assert_int_equal(bus_replay_request_decode(zframe_data(frame), zframe_size(frame), &back),
                     BUS_OK);
    assert_string_equal(back.stream, "order-0");
    assert_true(back.from_seq == 4294967297);
    assert_int_equal(back.max_events, 1000);
    zframe_destroy(&frame);

    const struct {
        const char *stream;
        uint64_t from_seq;
        uint32_t max_events;
    } invalid[] = {{"order-0", 0, 10}, {"order-0", 1, 0}, {"", 1, 10}, {"ORDER", 1, 10}};
    for (size_t index = 0; index < sizeof invalid / sizeof invalid[0]; index++) {
        Ev__V1__ReplayRequest message = EV__V1__REPLAY_REQUEST__INIT;
        message.stream = (char *) invalid[index].stream;
        message.from_seq = invalid[index].from_seq;
        message.max_events = invalid[index].max_events;
        zchunk_t *packed = s_pack(&message.base);
        if (bus_replay_request_decode(zchunk_data(packed), zchunk_size(packed), &back) !=
            BUS_MALFORMED) {
            fail_msg("replay request %zu accepted", index);
        }
        zchunk_destroy(&packed);

        bus_replay_request_t plain = {.from_seq = invalid[index].from_seq,
                                      .max_events = invalid[index].max_events};
        assert_true(strlen(invalid[index].stream) < sizeof plain.stream);
        memcpy(plain.stream, invalid[index].stream, strlen(invalid[index].stream) + 1);
        assert_null(bus_replay_request_encode(&plain));
    }
}

//  ---------------------------------------------------------------------
//  Replay replies: each status round trips; unknown statuses and the
//  seq rules are refused.

static void
test_replay_reply(void **state)
{
    (void) state;
    const bus_replay_reply_t valid[] = {
        {"order-0", BUS_REPLAY_OK, 5, 104, 2000, 1},
        {"order-0", BUS_REPLAY_OK, 5, 4, 4, 1}, //  nothing to send
        {"order-0", BUS_REPLAY_TRIMMED, 5, 4, 2000, 100},
        {"order-0", BUS_REPLAY_UNKNOWN_STREAM, 5, 4, 0, 0},
        {"", BUS_REPLAY_BAD_REQUEST, 0, 0, 0, 0},
        {"order-0", BUS_REPLAY_BAD_REQUEST, 0, 0, 0, 0},
    };
    for (size_t index = 0; index < sizeof valid / sizeof valid[0]; index++) {
        zframe_t *frame = bus_replay_reply_encode(&valid[index]);
        assert_non_null(frame);
        bus_replay_reply_t back;
        assert_int_equal(bus_replay_reply_decode(zframe_data(frame), zframe_size(frame), &back),
                         BUS_OK);
        assert_string_equal(back.stream, valid[index].stream);
        assert_int_equal(back.status, valid[index].status);
        assert_int_equal(back.from_seq, valid[index].from_seq);
        assert_int_equal(back.to_seq, valid[index].to_seq);
        assert_int_equal(back.last_seq, valid[index].last_seq);
        assert_int_equal(back.first_seq, valid[index].first_seq);
        zframe_destroy(&frame);
    }

    const struct {
        const char *stream;
        int status;
        uint64_t from_seq;
        uint64_t to_seq;
    } invalid[] = {
        {"order-0", 0, 5, 4},                      //  STATUS_UNSPECIFIED
        {"order-0", 5, 5, 4},                      //  unknown status
        {"order-0", -1, 5, 4},                     //  unknown status
        {"order-0", BUS_REPLAY_OK, 0, 0},          //  seq 0
        {"order-0", BUS_REPLAY_OK, 5, 3},          //  ends before it starts
        {"order-0", BUS_REPLAY_TRIMMED, 0, 0},     //  seq 0
        {"", BUS_REPLAY_OK, 5, 4},                 //  no stream
        {"", BUS_REPLAY_UNKNOWN_STREAM, 5, 4},     //  no stream
        {"Order-0", BUS_REPLAY_BAD_REQUEST, 0, 0}, //  invalid stream
    };
    for (size_t index = 0; index < sizeof invalid / sizeof invalid[0]; index++) {
        Ev__V1__ReplayReply message = EV__V1__REPLAY_REPLY__INIT;
        message.stream = (char *) invalid[index].stream;
        message.status = (Ev__V1__ReplayReply__Status) invalid[index].status;
        message.from_seq = invalid[index].from_seq;
        message.to_seq = invalid[index].to_seq;
        zchunk_t *packed = s_pack(&message.base);
        bus_replay_reply_t back;
        if (bus_replay_reply_decode(zchunk_data(packed), zchunk_size(packed), &back) !=
            BUS_MALFORMED) {
            fail_msg("replay reply %zu accepted", index);
        }
        zchunk_destroy(&packed);

        bus_replay_reply_t plain = {.status = (bus_replay_status_t) invalid[index].status,
                                    .from_seq = invalid[index].from_seq,
                                    .to_seq = invalid[index].to_seq};
        assert_true(strlen(invalid[index].stream) < sizeof plain.stream);
        memcpy(plain.stream, invalid[index].stream, strlen(invalid[index].stream) + 1);
        assert_null(bus_replay_reply_encode(&plain));
    }
}

//  ---------------------------------------------------------------------
//  Control frames: too large refused before unpacking, garbage malformed.

static void
test_control_too_large_and_garbage(void **state)
{
    (void) state;
    uint8_t *big = (uint8_t *) zmalloc(BUS_CONTROL_FRAME_MAX + 1);
    bus_heartbeat_t heartbeat;
    bus_replay_request_t request;
    bus_replay_reply_t reply;
    size_t size = BUS_CONTROL_FRAME_MAX + 1;
    assert_int_equal(bus_heartbeat_decode(big, size, &heartbeat), BUS_TOO_LARGE);
    assert_int_equal(bus_replay_request_decode(big, size, &request), BUS_TOO_LARGE);
    assert_int_equal(bus_replay_reply_decode(big, size, &reply), BUS_TOO_LARGE);
    freen(big);

    const uint8_t garbage[] = {0x0a, 0x7f, 'o'};
    assert_int_equal(bus_heartbeat_decode(garbage, sizeof garbage, &heartbeat), BUS_MALFORMED);
    assert_int_equal(bus_replay_request_decode(garbage, sizeof garbage, &request), BUS_MALFORMED);
    assert_int_equal(bus_replay_reply_decode(garbage, sizeof garbage, &reply), BUS_MALFORMED);
    //  Empty frames unpack as all defaults: no stream, so malformed too.
    assert_int_equal(bus_heartbeat_decode(NULL, 0, &heartbeat), BUS_MALFORMED);
    assert_int_equal(bus_replay_request_decode(NULL, 0, &request), BUS_MALFORMED);
    assert_int_equal(bus_replay_reply_decode(NULL, 0, &reply), BUS_MALFORMED);
}

//  ---------------------------------------------------------------------
//  A control frame of BUS_CONTROL_FRAME_MAX bytes of empty stream fields,
//  which protobuf-c would unpack into many times its size, is refused as
//  too large by every decoder.

static void
test_control_unpack_budget(void **state)
{
    (void) state;
    const uint8_t empty_stream[] = {0x0a, 0x00};
    zchunk_t *frame = zchunk_new(NULL, BUS_CONTROL_FRAME_MAX);
    while (zchunk_size(frame) + sizeof empty_stream <= BUS_CONTROL_FRAME_MAX) {
        zchunk_extend(frame, empty_stream, sizeof empty_stream);
    }
    bus_heartbeat_t heartbeat;
    bus_replay_request_t request;
    bus_replay_reply_t reply;
    const uint8_t *data = zchunk_data(frame);
    size_t size = zchunk_size(frame);
    assert_int_equal(bus_heartbeat_decode(data, size, &heartbeat), BUS_TOO_LARGE);
    assert_int_equal(bus_replay_request_decode(data, size, &request), BUS_TOO_LARGE);
    assert_int_equal(bus_replay_reply_decode(data, size, &reply), BUS_TOO_LARGE);
    zchunk_destroy(&frame);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_heartbeat_live),
        cmocka_unit_test(test_replay_request),
        cmocka_unit_test(test_replay_reply),
        cmocka_unit_test(test_control_too_large_and_garbage),
        cmocka_unit_test(test_control_unpack_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
