/*  =========================================================================
    bus_envelope - the wire codec of the bus: envelopes and topics

    The only code that packs and unpacks ev.v1 messages (STYLE rule 10).
    Decoding checks everything protobuf-c does not (proto/README.md,
    "Conventions"): names, seq, 16-byte ids, W3C traceparent, UTF-8 of every
    string, the payload's own rules and that `type` names the payload. What
    a decoder hands out can be used without further checks. Encoding checks
    the same rules, so a publisher never sends what readers drop. Both are
    linear in the frame size and validation allocates nothing.

    A live event is one frame: its topic, a NUL and the envelope
    (bus_envelope_encode_live, docs/protocol.md section 4.1; bus_live reads
    it); the event log and replay hold the envelope alone. The control
    messages (Heartbeat, ReplayRequest, ReplayReply) are bus_control's.

        Ev__V1__Envelope *envelope = NULL;
        bus_rc_t rc = bus_envelope_decode(zframe_data(frame), zframe_size(frame),
                                          &envelope);
        if (rc == BUS_OK) {
            //  envelope->payload_case names the member of the payload oneof
        } else if (rc == BUS_UNKNOWN_TYPE) {
            //  a newer event type: count envelope->type, skip envelope->seq
        }
        bus_envelope_destroy(&envelope);
    =========================================================================
*/
#ifndef BUS_ENVELOPE_H_INCLUDED
#define BUS_ENVELOPE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ev/v1/bus.pb-c.h"
#include "ev/v1/envelope.pb-c.h"
#include "bus_rc.h"

//  Largest envelope frame accepted or produced, in bytes (1 MiB): the default
//  ZMQ_MAXMSGSIZE of every bus socket (docs/protocol.md section 3).
#define BUS_FRAME_MAX 1048576

//  What unpacking a frame of n bytes may allocate: BUS_UNPACK_BUDGET_BASE +
//  BUS_UNPACK_BUDGET_FACTOR * n bytes. Real envelopes need about 2 n;
//  frames made of tiny fields would make protobuf-c allocate up to 60 n.
#define BUS_UNPACK_BUDGET_BASE 16384
#define BUS_UNPACK_BUDGET_FACTOR 8

//  Longest stream id, in bytes: 1-64 bytes of [a-z0-9._-].
#define BUS_STREAM_NAME_MAX 64

//  Longest event type name, in bytes: 1-64 bytes of [A-Za-z0-9_].
#define BUS_TYPE_NAME_MAX 64

//  Size of every id on the wire (UUID, network byte order).
#define BUS_ID_SIZE 16

//  Most items an OrderCreated may carry.
#define BUS_ITEMS_MAX 100

//  Length of a version 00 W3C traceparent ("00-<32>-<16>-<2>").
#define BUS_TRACEPARENT_LENGTH 55

//  Longest tracestate, in bytes (W3C Trace Context, proto/README.md).
#define BUS_TRACESTATE_MAX 512

//  Longest origin, in bytes ("bus" or "rabbitmq:<stream>").
#define BUS_ORIGIN_MAX 128

//  Buffer size that holds any topic ("<type>/<stream>" or "$hb/<stream>")
//  and its NUL.
#define BUS_TOPIC_SIZE (BUS_TYPE_NAME_MAX + 1 + BUS_STREAM_NAME_MAX + 1)

//  The topic prefix of heartbeat frames; no event type starts with '$'.
#define BUS_HEARTBEAT_TOPIC_PREFIX "$hb/"

//  The byte between the topic and the packed message of a live message
//  (docs/protocol.md section 4.1): NUL, which no topic holds, so that the
//  topic is also a C string at the frame's start.
#define BUS_TOPIC_SEPARATOR '\0'

//  Unpack an envelope from `size` bytes and validate it. Returns:
//    BUS_OK            *envelope_out is a complete, valid envelope
//    BUS_UNKNOWN_TYPE  valid metadata and a `type` naming no payload this
//                      build knows (a newer publisher): *envelope_out is
//                      still set, so the caller can count the type and
//                      advance past its stream and seq
//    BUS_TOO_LARGE     size > BUS_FRAME_MAX (nothing was unpacked), or
//                      unpacking would allocate more than the budget
//                      (BUS_UNPACK_BUDGET_BASE)
//    BUS_MALFORMED     anything else; see bus_envelope_validate
//  On BUS_OK and BUS_UNKNOWN_TYPE the caller owns *envelope_out and must
//  destroy it with bus_envelope_destroy; it keeps a copy of the `size`
//  bytes (bus_envelope_packed). On failure *envelope_out is NULL and
//  nothing is held. Strings in the envelope are valid UTF-8 without
//  NUL bytes (protobuf-c ends a string at its first NUL).
bus_rc_t bus_envelope_decode(const void *data, size_t size, Ev__V1__Envelope **envelope_out);

//  Destroy an envelope from bus_envelope_decode; accepts NULL and nulls
//  the caller's pointer. Only for decoded envelopes: one built by the
//  caller belongs to the caller's own memory. A decoded envelope and all it
//  points to live in one arena that only this frees: never free_unpacked a
//  decoded envelope, nor free or replace its fields.
void bus_envelope_destroy(Ev__V1__Envelope **envelope_p);

//  Check an envelope against the contract. Returns BUS_OK, BUS_UNKNOWN_TYPE
//  (no payload set, and `type` names no type this build knows) or
//  BUS_MALFORMED when any of these fails:
//    stream    1-BUS_STREAM_NAME_MAX bytes of [a-z0-9._-]
//    seq       at least 1
//    message_id            exactly BUS_ID_SIZE bytes
//    type      1-BUS_TYPE_NAME_MAX bytes of [A-Za-z0-9_], equal to the
//              payload's type name when a payload is set
//    correlation_id, causation_id   empty or BUS_ID_SIZE bytes
//    traceparent           empty or version 00 W3C: lower-case hex, trace
//                          and parent id not all zero
//    tracestate, origin    UTF-8, at most BUS_TRACESTATE_MAX, BUS_ORIGIN_MAX
//    payload   order_id of BUS_ID_SIZE bytes; text fields UTF-8, customer_id
//              and item sku not empty; 0-BUS_ITEMS_MAX items, each with
//              quantity >= 1; every Money present, with three upper-case
//              letters as currency and amount_minor >= 0
//    unknown fields        none numbered 0 (protobuf-c accepts an overlong
//                          tag 0 but could not read it back once packed)
//  NULL strings count as empty. Does not allocate.
bus_rc_t bus_envelope_validate(const Ev__V1__Envelope *envelope);

//  Pack `envelope` into a new frame (the bytes protobuf-c packs).
//  Returns NULL, sending nothing, if the envelope does not validate (BUS_OK
//  or BUS_UNKNOWN_TYPE, so a relay can pass on a type it does not know) or
//  packs to more than BUS_FRAME_MAX bytes. Unknown fields of a decoded
//  envelope are packed again. Caller owns return value; destroy it with
//  zframe_destroy.
zframe_t *bus_envelope_encode(const Ev__V1__Envelope *envelope);

//  Pack `envelope` as it is published live (docs/protocol.md section 4.1)
//  into `msg_out`, which this initialises: one message of one frame, its
//  topic (bus_envelope_topic), BUS_TOPIC_SEPARATOR and the bytes
//  bus_envelope_encode packs, which are copied once (they are the
//  message's last bytes: bus_live_topic_length says where they start). A
//  zmq_msg_t rather than a zframe_t, because it is made for every event:
//  it saves czmq's allocation of the frame itself. Returns 0, or -1 as
//  bus_envelope_encode returns NULL (and `msg_out` is not initialised).
//  The caller owns the message: zmq_msg_send it, and zmq_msg_close it in
//  any case.
int bus_envelope_encode_live(const Ev__V1__Envelope *envelope, zmq_msg_t *msg_out);

//  The bytes a decoded envelope was decoded from, as received: the
//  decoder keeps a copy with the envelope (in the same memory, no other
//  allocation), which is what a dead letter stores. Only for envelopes
//  from bus_envelope_decode. Borrowed: valid until the envelope is
//  destroyed.
const void *bus_envelope_packed(const Ev__V1__Envelope *envelope);

//  The size of bus_envelope_packed's bytes.
size_t bus_envelope_packed_size(const Ev__V1__Envelope *envelope);

//  Write the topic "<type>/<stream>" of `envelope` and a NUL into `buffer`.
//  Returns the topic's length, or -1 if it and its NUL do not fit in `size`
//  bytes (BUS_TOPIC_SIZE always fits a valid envelope); on -1 `buffer` is
//  not touched.
int bus_envelope_topic(const Ev__V1__Envelope *envelope, char *buffer, size_t size);

//  Write the heartbeat topic "$hb/<stream>" and a NUL into `buffer`.
//  Returns its length, or -1 if it does not fit in `size` bytes (buffer not
//  touched).
int bus_heartbeat_topic(const char *stream, char *buffer, size_t size);

//  The type name of a payload case ("OrderCreated"), or NULL for
//  EV__V1__ENVELOPE__PAYLOAD__NOT_SET and values that name no case.
//  Borrowed, static.
const char *bus_envelope_type_name(Ev__V1__Envelope__PayloadCase payload_case);

//  The payload case of a type name ("OrderCreated"), or
//  EV__V1__ENVELOPE__PAYLOAD__NOT_SET if this build knows no such type.
Ev__V1__Envelope__PayloadCase bus_envelope_payload_case(const char *type_name);

//  True if `stream` is a valid stream id: 1-BUS_STREAM_NAME_MAX bytes of
//  [a-z0-9._-]. Publishers check their configured id with it.
bool bus_envelope_stream_valid(const char *stream);

//  The partition of an aggregate key: FNV-1a 32-bit of its `size` bytes,
//  mod `partitions` (at least 1). Every event of an order uses the order
//  id's 16 bytes (docs/protocol.md section 7).
uint32_t bus_partition_of(const void *key, size_t size, uint32_t partitions);

#endif
