/*  =========================================================================
    bus_wire - packing and unpacking the common case of the protobuf wire
    format in one pass (private)

    protobuf-c sizes a message before packing it and sizes every
    submessage again for each length prefix above it; it unpacks each
    message by scanning it into a table of members, then parsing the table
    through a generic dispatch that also handles merging, packed fields and
    unknown fields. For a live event that was most of its CPU. This codec
    reads the same generated descriptors (a new event type needs nothing
    here) and protobuf-c's own structs:

    - bus_wire_pack writes a message backwards, from the end of a buffer:
      each submessage before its length, which is then known, so nothing is
      sized at all. The bytes are those protobuf_c_message_pack writes.
    - bus_wire_unpack reads each message once, storing singular fields as
      it goes; repeated elements are stored once their arrays (whose sizes
      the read counted) are allocated. It allocates what protobuf-c
      allocates for the message (the message, its strings, bytes, arrays
      and submessages; none of protobuf-c's scratch space).

    Both cover proto3 singular fields (oneof members too) of the types
    int32, enum, uint32, int64, uint64, bool, string, bytes and message, and
    repeated string, bytes and message fields. Anything else (another type
    or label, a packed field, an unknown field; on unpacking also a
    singular field or a second oneof member seen twice, a wire type that
    does not match, an overlong or truncated tag or length, more than
    128 elements of repeated fields in one message) makes them
    decline, and the callers (bus_codec.c, and bus_envelope.c to pack
    envelopes) use protobuf-c instead, which handles such input as it always did. So what they
    return is what protobuf-c would return, what they handle holds no
    unknown fields, and an odd frame costs at most a second parse.
    bus_envelope_test and the fuzz target compare the two.
    =========================================================================
*/
#ifndef BUS_WIRE_H_INCLUDED
#define BUS_WIRE_H_INCLUDED

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

//  Pack `message` as protobuf_c_message_pack would, into the end of the
//  `size` bytes at `buffer`. Returns where the packed bytes begin (they end
//  at buffer + size), or NULL if they do not fit or the message holds what
//  this codec does not pack (then use protobuf-c); the buffer's bytes mean
//  nothing then.
uint8_t *bus_wire_pack(const ProtobufCMessage *message, uint8_t *buffer, size_t size);

//  Unpack a message of type `descriptor` from `size` bytes, allocating
//  from `allocator` (the message first). Returns the message, with no
//  unknown fields, or NULL if the bytes hold what this codec does not read
//  or an allocation failed. Nothing allocated is freed on NULL, and the
//  message is freed by freeing what the allocator handed out: use an
//  arena.
ProtobufCMessage *bus_wire_unpack(const ProtobufCMessageDescriptor *descriptor,
                                  ProtobufCAllocator *allocator,
                                  const uint8_t *data,
                                  size_t size);

#endif
