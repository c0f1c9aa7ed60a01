/*  =========================================================================
    bus_live - reading the live path: one event or heartbeat per message

    The subscriber's per-message work before sequencing, shared with the
    live benchmark so that it measures this very code: receive without a
    zmsg or zframe per message, split the topic from the body, decode the
    body and check that the topic is the body's. A topic is never trusted
    on its own (the envelope's stream and seq are authoritative); a topic
    that disagrees with its body makes the message malformed, so that a
    SUB prefix filter on types never lets through what it should not.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_envelope.h"
#include "bus_control.h"
#include "bus_live.h"

//  Frames of the two forms: one now, two from older publishers.
#define S_FRAMES_MAX 2

//  Reasons for BUS_LIVE_MALFORMED, as logged (bus.frame.malformed).
#define S_SHAPE "a live message is one frame, or two from an older publisher"
#define S_NO_TOPIC "a one-frame live message without a topic and separator"
#define S_BAD_HEARTBEAT "a heartbeat that does not decode"
#define S_TOPIC_MISMATCH "a topic that is not its body's"

struct bus_live_reader {
    zmq_msg_t frames[S_FRAMES_MAX]; //  the frames of the last message, reused (owned)
};

//  --------------------------------------------------------------------------
//  A new reader: its messages initialised empty.

bus_live_reader_t *
bus_live_reader_new(void)
{
    bus_live_reader_t *self = (bus_live_reader_t *) zmalloc(sizeof *self);
    for (size_t index = 0; index < S_FRAMES_MAX; index++) {
        zmq_msg_init(&self->frames[index]);
    }
    return self;
}

//  --------------------------------------------------------------------------
//  Destroy a reader: release what its messages still hold.

void
bus_live_reader_destroy(bus_live_reader_t **self_p)
{
    assert(self_p);
    bus_live_reader_t *self = *self_p;
    if (self) {
        for (size_t index = S_FRAMES_MAX; index > 0; index--) {
            zmq_msg_close(&self->frames[index - 1]);
        }
        freen(self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Receive one message; frames past the second go into the second message
//  (read and dropped: the count makes it malformed).

int
bus_live_reader_recv(bus_live_reader_t *self, void *socket, int flags, bus_live_t *live_out)
{
    assert(self);
    assert(socket);
    assert(live_out);
    if (zmq_msg_recv(&self->frames[0], socket, flags) < 0) {
        return -1;
    }
    size_t count = 1;
    zmq_msg_t *last = &self->frames[0];
    while (zmq_msg_more(last)) {
        //  The rest of a message arrives with its first frame: no wait.
        last = &self->frames[S_FRAMES_MAX - 1];
        if (zmq_msg_recv(last, socket, 0) < 0) {
            return -1;
        }
        count++;
    }
    zmq_msg_t *second = count > 1 ? &self->frames[1] : NULL;
    bus_live_read(zmq_msg_data(&self->frames[0]), zmq_msg_size(&self->frames[0]),
                  second ? zmq_msg_data(second) : NULL, second ? zmq_msg_size(second) : 0, count,
                  live_out);
    return 0;
}

//  --------------------------------------------------------------------------
//  Where the separator of a one-frame message is.

int
bus_live_topic_length(const void *data, size_t size)
{
    assert(data || size == 0);
    size_t window = size < BUS_TOPIC_SIZE ? size : BUS_TOPIC_SIZE;
    const uint8_t *separator = window ? memchr(data, BUS_TOPIC_SEPARATOR, window) : NULL;
    return separator ? (int) (separator - (const uint8_t *) data) : -1;
}

//  --------------------------------------------------------------------------
//  True if the `size` bytes at `topic` are `prefix`, `separator` (if not
//  NUL) and `name`, compared where they are (nothing is written).

static bool
s_topic_is(const void *topic, size_t size, const char *prefix, char separator, const char *name)
{
    const char *at = (const char *) topic;
    size_t prefix_size = strlen(prefix);
    size_t name_size = strlen(name);
    size_t middle = separator ? 1 : 0;
    return size == prefix_size + middle + name_size && memcmp(at, prefix, prefix_size) == 0 &&
           (!separator || at[prefix_size] == separator) &&
           memcmp(at + prefix_size + middle, name, name_size) == 0;
}

//  --------------------------------------------------------------------------
//  The body under a heartbeat topic.

static void
s_read_heartbeat(
    const void *topic, size_t topic_size, const void *body, size_t size, bus_live_t *live)
{
    bus_heartbeat_t heartbeat;
    bus_rc_t rc = bus_heartbeat_decode(body, size, &heartbeat);
    if (rc != BUS_OK) {
        *live = (bus_live_t){.kind = BUS_LIVE_MALFORMED, .rc = rc, .reason = S_BAD_HEARTBEAT};
    } else if (!s_topic_is(topic, topic_size, BUS_HEARTBEAT_TOPIC_PREFIX, '\0', heartbeat.stream)) {
        *live = (bus_live_t){
            .kind = BUS_LIVE_MALFORMED, .rc = BUS_MALFORMED, .reason = S_TOPIC_MISMATCH};
    } else {
        *live = (bus_live_t){.kind = BUS_LIVE_HEARTBEAT, .rc = BUS_OK, .heartbeat = heartbeat};
    }
}

//  --------------------------------------------------------------------------
//  The body under an event topic.

static void
s_read_event(const void *topic, size_t topic_size, const void *body, size_t size, bus_live_t *live)
{
    Ev__V1__Envelope *envelope = NULL;
    bus_rc_t rc = bus_envelope_decode(body, size, &envelope);
    if (rc != BUS_OK && rc != BUS_UNKNOWN_TYPE) {
        *live = (bus_live_t){.kind = BUS_LIVE_MALFORMED, .rc = rc, .reason = bus_strerror(rc)};
    } else if (!s_topic_is(topic, topic_size, envelope->type, '/', envelope->stream)) {
        bus_envelope_destroy(&envelope);
        *live = (bus_live_t){
            .kind = BUS_LIVE_MALFORMED, .rc = BUS_MALFORMED, .reason = S_TOPIC_MISMATCH};
    } else {
        *live = (bus_live_t){.kind = BUS_LIVE_EVENT, .rc = rc, .envelope = envelope};
    }
}

//  --------------------------------------------------------------------------
//  Read a live message of one or two frames.

void
bus_live_read(const void *first,
              size_t first_size,
              const void *second,
              size_t second_size,
              size_t frame_count,
              bus_live_t *live_out)
{
    assert(first || first_size == 0);
    assert(second || second_size == 0 || frame_count != 2);
    assert(live_out);
    const void *topic = first;
    size_t topic_size = first_size;
    const void *body = second;
    size_t body_size = second_size;
    if (frame_count == 1) {
        int length = bus_live_topic_length(first, first_size);
        if (length < 0) {
            *live_out =
                (bus_live_t){.kind = BUS_LIVE_MALFORMED, .rc = BUS_MALFORMED, .reason = S_NO_TOPIC};
            return;
        }
        topic_size = (size_t) length;
        body = (const uint8_t *) first + length + 1;
        body_size = first_size - topic_size - 1;
    } else if (frame_count != 2) {
        *live_out =
            (bus_live_t){.kind = BUS_LIVE_MALFORMED, .rc = BUS_MALFORMED, .reason = S_SHAPE};
        return;
    }
    size_t prefix = strlen(BUS_HEARTBEAT_TOPIC_PREFIX);
    if (topic_size >= prefix && memcmp(topic, BUS_HEARTBEAT_TOPIC_PREFIX, prefix) == 0) {
        s_read_heartbeat(topic, topic_size, body, body_size, live_out);
    } else {
        s_read_event(topic, topic_size, body, body_size, live_out);
    }
}
