/*  =========================================================================
    bus_codec - the protobuf plumbing of the wire codec (private)

    What bus_envelope (envelopes) and bus_control (heartbeats, replay
    requests and replies) share: unpacking a message into an arena on a
    memory budget, and packing one into a new frame. Both go through the
    one-pass bus_wire first and through protobuf-c when bus_wire declines
    (bus_wire.h), so the bytes and structs are protobuf-c's either way.

    protobuf-c allocates some ten times per envelope (every submessage,
    string, array) and, for a frame made of tiny fields, up to 60 times the
    frame's size. A message unpacked here lives in one arena: one malloc for
    a typical envelope, one free to release it, and never more than
    BUS_UNPACK_BUDGET_BASE + BUS_UNPACK_BUDGET_FACTOR x the frame's size.

        ProtobufCMessage *message = NULL;
        bus_rc_t rc = bus_codec_unpack(&ev__v1__heartbeat__descriptor, data, size, false, &message);
        if (rc == BUS_OK) {
            //  check and copy what it holds
        }
        bus_codec_free(&message);
    =========================================================================
*/
#ifndef BUS_CODEC_H_INCLUDED
#define BUS_CODEC_H_INCLUDED

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus_rc.h"

//  Stack buffer bus_wire packs into, in bytes: a typical envelope is about
//  200; larger messages are packed by protobuf-c.
#define BUS_CODEC_SCRATCH 8192

//  Unpack a message of type `descriptor` from `size` bytes (at most
//  BUS_FRAME_MAX, asserted) into a new arena; with `keep`, the arena also
//  holds a copy of the bytes (bus_codec_kept), in the same malloc. Returns
//  BUS_OK and the message in *message_out, BUS_TOO_LARGE if unpacking
//  would allocate more than the budget, or BUS_MALFORMED if it does not
//  unpack; on failure *message_out is NULL and nothing is held. The caller
//  owns the message and frees it with bus_codec_free only (never
//  free_unpacked).
bus_rc_t bus_codec_unpack(const ProtobufCMessageDescriptor *descriptor,
                          const void *data,
                          size_t size,
                          bool keep,
                          ProtobufCMessage **message_out);

//  Free a message from bus_codec_unpack and everything it points to;
//  accepts NULL and nulls the caller's pointer.
void bus_codec_free(ProtobufCMessage **message_p);

//  True if protobuf-c unpacked the message (bus_wire declined it): only
//  then may it hold unknown fields.
bool bus_codec_generic(const ProtobufCMessage *message);

//  The copy of the bytes a message was unpacked from with `keep`, or NULL
//  without; and their size (0 without). Borrowed: valid until the message
//  is freed.
const void *bus_codec_kept(const ProtobufCMessage *message);
size_t bus_codec_kept_size(const ProtobufCMessage *message);

//  A new frame holding, if `topic` is not NULL, that NUL-terminated topic
//  and BUS_TOPIC_SEPARATOR (a live message, docs/protocol.md section 4),
//  then `message` packed, at most `max_size` bytes (the topic not
//  counted). If `packed` is not NULL it holds the `packed_size` bytes
//  bus_wire_pack wrote for the message, and they are copied once;
//  otherwise protobuf-c packs the message straight into the frame.
//  Returns NULL, making nothing, if the packed message is larger than
//  `max_size`. Caller owns return value; destroy it with zframe_destroy.
zframe_t *bus_codec_frame(const ProtobufCMessage *message,
                          const uint8_t *packed,
                          size_t packed_size,
                          const char *topic,
                          size_t max_size);

//  As bus_codec_frame, into `msg_out`, which it initialises
//  (zmq_msg_init_size): one allocation fewer than a zframe, for what is
//  sent once per event. Returns 0, or -1 (nothing initialised) if the
//  packed message is larger than `max_size`. The caller closes the
//  message (zmq_msg_close), also after zmq_msg_send.
int bus_codec_msg(const ProtobufCMessage *message,
                  const uint8_t *packed,
                  size_t packed_size,
                  const char *topic,
                  size_t max_size,
                  zmq_msg_t *msg_out);

//  Pack `message` into a new frame of at most `max_size` bytes (after
//  `topic` and its separator, if `topic` is not NULL, as bus_codec_frame):
//  bus_wire on the stack, or protobuf-c for what bus_wire declines or what
//  does not fit there. NULL if it would be larger. Caller owns return
//  value; destroy it with zframe_destroy.
zframe_t *bus_codec_pack(const ProtobufCMessage *message, const char *topic, size_t max_size);

#endif
