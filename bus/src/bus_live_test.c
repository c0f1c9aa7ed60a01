/*  =========================================================================
    bus_live_test - reading live messages: both forms, and what is malformed

    The first case is the usage example from bus_live.h. Then, over an
    inproc PAIR (the reader does not care which socket type): an event and
    a heartbeat in the one-frame form, byte for byte as specified (topic,
    NUL, the bytes bus_envelope_encode packs); both in the two-frame form
    of older publishers; one-frame messages without a separator; topics
    that are not their body's (another type, another stream, a heartbeat
    topic over an event and the reverse), in both forms; messages of three
    frames, read to their end so that the next message reads cleanly;
    bodies that do not decode or are too large; where a topic may end. Last,
    a SUB prefix filter on one type still selects that type's one-frame
    events and nothing else.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_live.h"
#include "contract_samples.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  The golden samples used: an OrderCreated and an OrderCancelled of
//  stream "order-0" (contract_samples.h).
#define SAMPLE_CREATED 0
#define SAMPLE_CANCELLED 1
#define STREAM "order-0"
#define CREATED_TOPIC "OrderCreated/order-0"

//  How long a receive may wait, and how long the filter test probes.
#define WAIT_MS 5000

//  A PAIR connected to a PAIR, and the reader under test.
typedef struct {
    zsock_t *out;                //  what a publisher sends on
    zsock_t *in;                 //  what the reader reads
    bus_live_reader_t *reader;   //  the reader
    Ev__V1__Envelope *created;   //  sample OrderCreated, decoded
    Ev__V1__Envelope *cancelled; //  sample OrderCancelled, decoded
    zchunk_t *created_packed;    //  its bytes
} fixture_t;

//  ---------------------------------------------------------------------
//  An envelope as published live (bus_envelope_encode_live), as a frame;
//  NULL if it does not encode.

static zframe_t *
s_live_frame(const Ev__V1__Envelope *envelope)
{
    zmq_msg_t msg;
    if (bus_envelope_encode_live(envelope, &msg) != 0) {
        return NULL;
    }
    zframe_t *frame = zframe_new(zmq_msg_data(&msg), zmq_msg_size(&msg));
    zmq_msg_close(&msg);
    return frame;
}

//  ---------------------------------------------------------------------
//  A golden sample, decoded.

static Ev__V1__Envelope *
s_sample(size_t index, zchunk_t **packed_out)
{
    zchunk_t *packed = contract_samples_pack(index);
    Ev__V1__Envelope *envelope = NULL;
    assert_int_equal(bus_envelope_decode(zchunk_data(packed), zchunk_size(packed), &envelope),
                     BUS_OK);
    if (packed_out) {
        *packed_out = packed;
    } else {
        zchunk_destroy(&packed);
    }
    return envelope;
}

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    //  A fresh endpoint each time: a closed socket's inproc name is freed
    //  only later, by ZeroMQ's reaper.
    zuuid_t *uuid = zuuid_new();
    char *bind = zsys_sprintf("@inproc://bus_live_test-%s", zuuid_str(uuid));
    fixture->in = zsock_new_pair(bind);
    bind[0] = '>';
    fixture->out = zsock_new_pair(bind);
    zstr_free(&bind);
    zuuid_destroy(&uuid);
    assert_non_null(fixture->in);
    assert_non_null(fixture->out);
    zsock_set_rcvtimeo(fixture->in, WAIT_MS);
    fixture->reader = bus_live_reader_new();
    fixture->created = s_sample(SAMPLE_CREATED, &fixture->created_packed);
    fixture->cancelled = s_sample(SAMPLE_CANCELLED, NULL);
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    zchunk_destroy(&fixture->created_packed);
    bus_envelope_destroy(&fixture->cancelled);
    bus_envelope_destroy(&fixture->created);
    bus_live_reader_destroy(&fixture->reader);
    bus_live_reader_destroy(&fixture->reader);
    zsock_destroy(&fixture->out);
    zsock_destroy(&fixture->in);
    freen(fixture);
    return 0;
}

//  ---------------------------------------------------------------------
//  Send a message of `count` frames (frames[i] of sizes[i] bytes).

static void
s_send(fixture_t *fixture, const void *const *frames, const size_t *sizes, size_t count)
{
    void *out = zsock_resolve(fixture->out);
    for (size_t index = 0; index < count; index++) {
        int flags = index + 1 < count ? ZMQ_SNDMORE : 0;
        assert_int_equal(zmq_send(out, frames[index], sizes[index], flags), (int) sizes[index]);
    }
}

//  A one-frame message: `topic`, a NUL, then `size` bytes of `body`.
static void
s_send_one(fixture_t *fixture, const char *topic, const void *body, size_t size)
{
    zchunk_t *frame = zchunk_new(topic, strlen(topic) + 1);
    zchunk_extend(frame, body, size);
    const void *frames[] = {zchunk_data(frame)};
    const size_t sizes[] = {zchunk_size(frame)};
    s_send(fixture, frames, sizes, 1);
    zchunk_destroy(&frame);
}

//  A two-frame message: [topic][body].
static void
s_send_two(fixture_t *fixture, const char *topic, const void *body, size_t size)
{
    const void *frames[] = {topic, body};
    const size_t sizes[] = {strlen(topic), size};
    s_send(fixture, frames, sizes, 2);
}

//  Read the next message.
static bus_live_t
s_read(fixture_t *fixture)
{
    bus_live_t live;
    assert_int_equal(bus_live_reader_recv(fixture->reader, zsock_resolve(fixture->in), 0, &live),
                     0);
    return live;
}

//  Read the next message: an event whose bytes are `packed`; destroy it.
static void
s_expect_event(fixture_t *fixture, zchunk_t *packed)
{
    bus_live_t live = s_read(fixture);
    assert_int_equal(live.kind, BUS_LIVE_EVENT);
    assert_int_equal(live.rc, BUS_OK);
    assert_non_null(live.envelope);
    assert_null(live.reason);
    assert_int_equal(bus_envelope_packed_size(live.envelope), zchunk_size(packed));
    assert_memory_equal(bus_envelope_packed(live.envelope), zchunk_data(packed),
                        zchunk_size(packed));
    bus_envelope_destroy(&live.envelope);
}

//  Read the next message: malformed, for `reason` (NULL: any).
static void
s_expect_malformed(fixture_t *fixture, const char *reason)
{
    bus_live_t live = s_read(fixture);
    if (live.kind != BUS_LIVE_MALFORMED) {
        bus_envelope_destroy(&live.envelope);
        fail_msg("a malformed message was read as %d", (int) live.kind);
    }
    assert_null(live.envelope);
    assert_non_null(live.reason);
    if (reason) {
        assert_string_equal(live.reason, reason);
    }
}

//  ---------------------------------------------------------------------
//  The usage example of bus_live.h: an event and a heartbeat as a
//  publisher sends them, read back.

static void
test_usage_example(void **state)
{
    fixture_t *fixture = *state;
    zframe_t *frame = s_live_frame(fixture->created);
    assert_non_null(frame);
    assert_int_equal(zframe_send(&frame, fixture->out, 0), 0);
    bus_heartbeat_t heartbeat = {
        .stream = STREAM, .last_seq = 42, .first_seq = 1, .interval_ms = 1000};
    frame = bus_heartbeat_encode_live(&heartbeat);
    assert_non_null(frame);
    assert_int_equal(zframe_send(&frame, fixture->out, 0), 0);

    bus_live_t live;
    void *in = zsock_resolve(fixture->in);
    assert_int_equal(bus_live_reader_recv(fixture->reader, in, 0, &live), 0);
    assert_int_equal(live.kind, BUS_LIVE_EVENT);
    assert_int_equal(live.rc, BUS_OK);
    assert_string_equal(live.envelope->stream, STREAM);
    assert_int_equal(live.envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    bus_envelope_destroy(&live.envelope);

    assert_int_equal(bus_live_reader_recv(fixture->reader, in, 0, &live), 0);
    assert_int_equal(live.kind, BUS_LIVE_HEARTBEAT);
    assert_null(live.envelope);
    assert_string_equal(live.heartbeat.stream, STREAM);
    assert_int_equal(live.heartbeat.last_seq, 42);

    //  Nothing waiting: -1 and EAGAIN.
    assert_int_equal(bus_live_reader_recv(fixture->reader, in, ZMQ_DONTWAIT, &live), -1);
    assert_int_equal(errno, EAGAIN);
}

//  ---------------------------------------------------------------------
//  The one-frame form, byte for byte: the topic, a NUL, then exactly the
//  bytes bus_envelope_encode and bus_heartbeat_encode pack; read back as
//  the event (its bytes kept) and the heartbeat they are.

static void
test_one_frame_form(void **state)
{
    fixture_t *fixture = *state;
    zframe_t *frame = s_live_frame(fixture->created);
    zframe_t *envelope = bus_envelope_encode(fixture->created);
    assert_non_null(frame);
    assert_non_null(envelope);
    size_t topic_size = strlen(CREATED_TOPIC) + 1;
    assert_int_equal(zframe_size(frame), topic_size + zframe_size(envelope));
    assert_memory_equal(zframe_data(frame), CREATED_TOPIC, topic_size); //  with its NUL
    assert_memory_equal(zframe_data(frame) + topic_size, zframe_data(envelope),
                        zframe_size(envelope));
    assert_int_equal(bus_live_topic_length(zframe_data(frame), zframe_size(frame)),
                     strlen(CREATED_TOPIC));
    zframe_destroy(&envelope);
    assert_int_equal(zframe_send(&frame, fixture->out, 0), 0);
    s_expect_event(fixture, fixture->created_packed);

    bus_heartbeat_t heartbeat = {
        .stream = STREAM, .last_seq = 7, .first_seq = 2, .interval_ms = 250};
    frame = bus_heartbeat_encode_live(&heartbeat);
    zframe_t *body = bus_heartbeat_encode(&heartbeat);
    assert_non_null(frame);
    assert_non_null(body);
    assert_int_equal(zframe_size(frame), sizeof "$hb/" STREAM + zframe_size(body));
    assert_memory_equal(zframe_data(frame), "$hb/" STREAM, sizeof "$hb/" STREAM);
    assert_memory_equal(zframe_data(frame) + sizeof "$hb/" STREAM, zframe_data(body),
                        zframe_size(body));
    zframe_destroy(&body);
    assert_int_equal(zframe_send(&frame, fixture->out, 0), 0);
    bus_live_t live = s_read(fixture);
    assert_int_equal(live.kind, BUS_LIVE_HEARTBEAT);
    assert_string_equal(live.heartbeat.stream, STREAM);
    assert_int_equal(live.heartbeat.last_seq, 7);
    assert_int_equal(live.heartbeat.first_seq, 2);
    assert_int_equal(live.heartbeat.interval_ms, 250);

    //  An event of a type this build does not know is still an event.
    Ev__V1__Envelope unknown = *fixture->cancelled;
    unknown.type = (char *) "OrderShipped";
    unknown.payload_case = EV__V1__ENVELOPE__PAYLOAD__NOT_SET;
    frame = s_live_frame(&unknown);
    assert_non_null(frame);
    assert_int_equal(zframe_send(&frame, fixture->out, 0), 0);
    live = s_read(fixture);
    assert_int_equal(live.kind, BUS_LIVE_EVENT);
    assert_int_equal(live.rc, BUS_UNKNOWN_TYPE);
    assert_string_equal(live.envelope->type, "OrderShipped");
    bus_envelope_destroy(&live.envelope);

    //  Encoding refuses what does not validate, as bus_envelope_encode does.
    Ev__V1__Envelope invalid = *fixture->created;
    invalid.seq = 0;
    assert_null(s_live_frame(&invalid));
    bus_heartbeat_t no_period = heartbeat;
    no_period.interval_ms = 0;
    assert_null(bus_heartbeat_encode_live(&no_period));
}

//  ---------------------------------------------------------------------
//  The two frames of older publishers, [topic][body], read as before.

static void
test_two_frame_form(void **state)
{
    fixture_t *fixture = *state;
    s_send_two(fixture, CREATED_TOPIC, zchunk_data(fixture->created_packed),
               zchunk_size(fixture->created_packed));
    s_expect_event(fixture, fixture->created_packed);

    bus_heartbeat_t heartbeat = {
        .stream = STREAM, .last_seq = 9, .first_seq = 1, .interval_ms = 1000};
    zframe_t *body = bus_heartbeat_encode(&heartbeat);
    s_send_two(fixture, "$hb/" STREAM, zframe_data(body), zframe_size(body));
    zframe_destroy(&body);
    bus_live_t live = s_read(fixture);
    assert_int_equal(live.kind, BUS_LIVE_HEARTBEAT);
    assert_int_equal(live.heartbeat.last_seq, 9);
}

//  ---------------------------------------------------------------------
//  One frame without a separator where a topic could end: malformed.

static void
test_one_frame_without_separator(void **state)
{
    fixture_t *fixture = *state;
    const char *text = "one frame only";
    const void *frames[] = {text};
    size_t sizes[] = {strlen(text)};
    s_send(fixture, frames, sizes, 1);
    s_expect_malformed(fixture, "a one-frame live message without a topic and separator");

    //  A NUL only after the longest topic could end.
    uint8_t long_frame[BUS_TOPIC_SIZE + 20];
    memset(long_frame, 'a', sizeof long_frame);
    long_frame[BUS_TOPIC_SIZE] = '\0';
    frames[0] = long_frame;
    sizes[0] = sizeof long_frame;
    s_send(fixture, frames, sizes, 1);
    s_expect_malformed(fixture, "a one-frame live message without a topic and separator");

    //  An empty frame.
    sizes[0] = 0;
    s_send(fixture, frames, sizes, 1);
    s_expect_malformed(fixture, "a one-frame live message without a topic and separator");

    //  The envelope alone, as replay sends it, is not a live message.
    const void *bare[] = {zchunk_data(fixture->created_packed)};
    size_t bare_size[] = {zchunk_size(fixture->created_packed)};
    s_send(fixture, bare, bare_size, 1);
    s_expect_malformed(fixture, NULL);
}

//  ---------------------------------------------------------------------
//  A topic that is not its body's is malformed, in both forms: another
//  type, another stream, a heartbeat's topic over an event and an event's
//  over a heartbeat, a topic cut short or one byte longer.

static void
test_topic_mismatch(void **state)
{
    fixture_t *fixture = *state;
    const char *wrong[] = {"OrderCancelled/order-0",
                           "OrderCreated/order-1",
                           "$hb/order-0",
                           "OrderCreated/order-",
                           "OrderCreated/order-00",
                           "OrderCreated",
                           ""};
    const char *mismatch = "a topic that is not its body's";
    const uint8_t *data = zchunk_data(fixture->created_packed);
    size_t size = zchunk_size(fixture->created_packed);
    for (size_t index = 0; index < sizeof wrong / sizeof wrong[0]; index++) {
        bool heartbeat_topic = strncmp(wrong[index], "$hb/", 4) == 0;
        s_send_one(fixture, wrong[index], data, size);
        s_expect_malformed(fixture,
                           heartbeat_topic ? "a heartbeat that does not decode" : mismatch);
        s_send_two(fixture, wrong[index], data, size);
        s_expect_malformed(fixture,
                           heartbeat_topic ? "a heartbeat that does not decode" : mismatch);
    }

    bus_heartbeat_t heartbeat = {
        .stream = STREAM, .last_seq = 1, .first_seq = 1, .interval_ms = 1000};
    zframe_t *body = bus_heartbeat_encode(&heartbeat);
    s_send_one(fixture, "$hb/order-1", zframe_data(body), zframe_size(body));
    s_expect_malformed(fixture, mismatch);
    s_send_two(fixture, "$hb/order-1", zframe_data(body), zframe_size(body));
    s_expect_malformed(fixture, mismatch);
    //  A heartbeat under an event's topic does not decode as an envelope.
    s_send_one(fixture, CREATED_TOPIC, zframe_data(body), zframe_size(body));
    s_expect_malformed(fixture, NULL);
    zframe_destroy(&body);

    //  The right topic still reads after all of that.
    s_send_one(fixture, CREATED_TOPIC, data, size);
    s_expect_event(fixture, fixture->created_packed);
}

//  ---------------------------------------------------------------------
//  Three frames are read to their end and are malformed; the next
//  message reads cleanly.

static void
test_three_frames(void **state)
{
    fixture_t *fixture = *state;
    const uint8_t *data = zchunk_data(fixture->created_packed);
    size_t size = zchunk_size(fixture->created_packed);
    const void *frames[] = {CREATED_TOPIC, data, data};
    const size_t sizes[] = {strlen(CREATED_TOPIC), size, size};
    s_send(fixture, frames, sizes, 3);
    s_expect_malformed(fixture, "a live message is one frame, or two from an older publisher");
    s_send_one(fixture, CREATED_TOPIC, data, size);
    s_expect_event(fixture, fixture->created_packed);

    bus_live_t live;
    bus_live_read(CREATED_TOPIC, strlen(CREATED_TOPIC), data, size, 0, &live);
    assert_int_equal(live.kind, BUS_LIVE_MALFORMED);
    bus_live_read(CREATED_TOPIC, strlen(CREATED_TOPIC), data, size, 3, &live);
    assert_int_equal(live.kind, BUS_LIVE_MALFORMED);
    assert_null(live.envelope);
}

//  ---------------------------------------------------------------------
//  Bodies that do not decode: the envelope decoder's reason, as logged
//  before (garbage is malformed, more than BUS_FRAME_MAX too large).

static void
test_bodies_that_do_not_decode(void **state)
{
    fixture_t *fixture = *state;
    s_send_one(fixture, CREATED_TOPIC, "not a protobuf", 14);
    s_expect_malformed(fixture, bus_strerror(BUS_MALFORMED));
    s_send_two(fixture, CREATED_TOPIC, "not a protobuf", 14);
    s_expect_malformed(fixture, bus_strerror(BUS_MALFORMED));

    size_t topic_size = strlen(CREATED_TOPIC) + 1;
    uint8_t *big = zmalloc(topic_size + BUS_FRAME_MAX + 1);
    memcpy(big, CREATED_TOPIC, topic_size);
    bus_live_t live;
    bus_live_read(big, topic_size + BUS_FRAME_MAX + 1, NULL, 0, 1, &live);
    assert_int_equal(live.kind, BUS_LIVE_MALFORMED);
    assert_int_equal(live.rc, BUS_TOO_LARGE);
    assert_string_equal(live.reason, bus_strerror(BUS_TOO_LARGE));
    freen(big);
}

//  ---------------------------------------------------------------------
//  Where a topic may end: the separator at the latest at byte
//  BUS_TOPIC_SIZE - 1 (after the longest topic, 129 bytes).

static void
test_topic_length(void **state)
{
    (void) state;
    uint8_t frame[BUS_TOPIC_SIZE + 10];
    memset(frame, 'a', sizeof frame);
    assert_int_equal(bus_live_topic_length(frame, sizeof frame), -1);
    frame[BUS_TOPIC_SIZE - 1] = '\0';
    assert_int_equal(bus_live_topic_length(frame, sizeof frame), BUS_TOPIC_SIZE - 1);
    assert_int_equal(bus_live_topic_length(frame, BUS_TOPIC_SIZE - 1), -1);
    frame[3] = '\0';
    assert_int_equal(bus_live_topic_length(frame, sizeof frame), 3);
    frame[0] = '\0';
    assert_int_equal(bus_live_topic_length(frame, 1), 0);
    assert_int_equal(bus_live_topic_length(NULL, 0), -1);
}

//  ---------------------------------------------------------------------
//  A SUB prefix filter on a type ("OrderCreated/") selects the one-frame
//  events of that type and nothing else: ZeroMQ matches the first frame,
//  which now starts with the topic.

static void
test_type_filter(void **state)
{
    fixture_t *fixture = *state;
    zsock_t *pub = zsock_new_pub("@inproc://bus_live_test-filter");
    zsock_t *sub = zsock_new_sub(">inproc://bus_live_test-filter", "OrderCreated/");
    assert_non_null(pub);
    assert_non_null(sub);
    zsock_set_rcvtimeo(sub, 10);
    void *in = zsock_resolve(sub);
    Ev__V1__Envelope created = *fixture->created;
    created.seq = 1;
    //  The subscription reaches the PUB some time after connecting: send
    //  probes (OrderCreated, seq 1) until one arrives, within WAIT_MS.
    int64_t deadline = zclock_mono() + WAIT_MS;
    bus_live_t live = {.kind = BUS_LIVE_MALFORMED};
    while (live.kind != BUS_LIVE_EVENT && zclock_mono() < deadline) {
        zframe_t *probe = s_live_frame(&created);
        assert_int_equal(zframe_send(&probe, pub, 0), 0);
        if (bus_live_reader_recv(fixture->reader, in, 0, &live) == 0) {
            assert_int_equal(live.kind, BUS_LIVE_EVENT);
            bus_envelope_destroy(&live.envelope);
        }
    }
    assert_int_equal(live.kind, BUS_LIVE_EVENT);

    //  Then another type, a heartbeat, and the marker: an OrderCreated of
    //  seq 2. Only probes and the marker may arrive, in order.
    zframe_t *frame = s_live_frame(fixture->cancelled);
    assert_int_equal(zframe_send(&frame, pub, 0), 0);
    bus_heartbeat_t heartbeat = {
        .stream = STREAM, .last_seq = 1, .first_seq = 1, .interval_ms = 1000};
    frame = bus_heartbeat_encode_live(&heartbeat);
    assert_int_equal(zframe_send(&frame, pub, 0), 0);
    created.seq = 2;
    frame = s_live_frame(&created);
    assert_int_equal(zframe_send(&frame, pub, 0), 0);
    zsock_set_rcvtimeo(sub, WAIT_MS);
    uint64_t seq = 0;
    while (seq != 2) {
        assert_int_equal(bus_live_reader_recv(fixture->reader, in, 0, &live), 0);
        assert_int_equal(live.kind, BUS_LIVE_EVENT);
        assert_int_equal(live.envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
        seq = live.envelope->seq;
        bus_envelope_destroy(&live.envelope);
    }
    zsock_set_rcvtimeo(sub, 0);
    assert_int_equal(bus_live_reader_recv(fixture->reader, in, 0, &live), -1);
    zsock_destroy(&sub);
    zsock_destroy(&pub);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage_example, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_one_frame_form, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_frame_form, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_one_frame_without_separator, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_topic_mismatch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_three_frames, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bodies_that_do_not_decode, s_setup, s_teardown),
        cmocka_unit_test(test_topic_length),
        cmocka_unit_test_setup_teardown(test_type_filter, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
