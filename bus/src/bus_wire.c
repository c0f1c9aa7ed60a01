/*  =========================================================================
    bus_wire - packing and unpacking the common case of the protobuf wire
    format in one pass

    Mirrors protobuf-c 1.4.1 (protobuf-c.c: unlabeled_field_pack,
    oneof_field_pack, repeated_field_pack, required_field_pack,
    parse_tag_and_wiretype, scan_length_prefixed_data,
    parse_required_member, parse_oneof_member, parse_repeated_member) for
    the field kinds of s_kinds and declines everything else, so that its
    answers are protobuf-c's: see bus_wire.h.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_wire.h"

//  Longest varint, tag and length prefix protobuf-c reads, in bytes.
#define S_VARINT_MAX 10
#define S_TAG_MAX 5
#define S_LENGTH_MAX 5

//  Most fields a message this codec reads may have: the read keeps one bit
//  per field (the singular ones seen).
#define S_FIELDS_MAX 64

//  Deepest nesting followed; the schema's is 4 (Envelope, OrderCreated,
//  OrderItem, Money).
#define S_DEPTH_MAX 16

//  A varint byte's payload and its "more follows" bit.
#define S_VARINT_BITS 0x7Fu
#define S_VARINT_MORE 0x80u

//  Bits of a tag below the field number, and the wire type's mask.
#define S_TAG_SHIFT 3
#define S_WIRE_TYPE_MASK 7u

//  Most elements of repeated fields one message may hold (an OrderCreated
//  holds at most BUS_ITEMS_MAX): where each is is kept on the stack until
//  the arrays are allocated.
#define S_ITEMS_MAX 128

//  One field as read from the wire: where its value is, in the message's
//  bytes.
typedef struct {
    uint32_t index;  //  the field's index in the descriptor
    uint32_t offset; //  offset of the varint, or of the bytes after the length
    uint32_t length; //  bytes of the value
} s_item_t;

//  What this codec does with a field type: whether it reads singular and
//  repeated fields of it, and the wire type of its values. Indexed by
//  ProtobufCType, whose last value is PROTOBUF_C_TYPE_MESSAGE; types left
//  out are declined.
typedef struct {
    bool singular;     //  proto3 singular fields (and oneof members)
    bool repeated;     //  repeated fields, not packed
    uint8_t wire_type; //  ProtobufCWireType of a value
} s_kind_t;

static const s_kind_t s_kinds[PROTOBUF_C_TYPE_MESSAGE + 1] = {
    [PROTOBUF_C_TYPE_INT32] = {true, false, PROTOBUF_C_WIRE_TYPE_VARINT},
    [PROTOBUF_C_TYPE_ENUM] = {true, false, PROTOBUF_C_WIRE_TYPE_VARINT},
    [PROTOBUF_C_TYPE_UINT32] = {true, false, PROTOBUF_C_WIRE_TYPE_VARINT},
    [PROTOBUF_C_TYPE_INT64] = {true, false, PROTOBUF_C_WIRE_TYPE_VARINT},
    [PROTOBUF_C_TYPE_UINT64] = {true, false, PROTOBUF_C_WIRE_TYPE_VARINT},
    [PROTOBUF_C_TYPE_BOOL] = {true, false, PROTOBUF_C_WIRE_TYPE_VARINT},
    [PROTOBUF_C_TYPE_STRING] = {true, true, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED},
    [PROTOBUF_C_TYPE_BYTES] = {true, true, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED},
    [PROTOBUF_C_TYPE_MESSAGE] = {true, true, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED},
};

//  ---------------------------------------------------------------------
//  True for the field kinds this codec packs and unpacks.

static bool
s_field_supported(const ProtobufCFieldDescriptor *field)
{
    if ((unsigned) field->type > PROTOBUF_C_TYPE_MESSAGE) {
        return false;
    }
    const s_kind_t *kind = &s_kinds[field->type];
    if (field->label == PROTOBUF_C_LABEL_NONE) {
        return kind->singular;
    }
    return field->label == PROTOBUF_C_LABEL_REPEATED && kind->repeated &&
           !(field->flags & PROTOBUF_C_FIELD_FLAG_PACKED);
}

//  ---------------------------------------------------------------------
//  The wire type a supported field's values travel as.

static unsigned
s_wire_type(const ProtobufCFieldDescriptor *field)
{
    return s_kinds[field->type].wire_type;
}

//  ---------------------------------------------------------------------
//  Size of one element of a repeated field's array.

static size_t
s_element_size(const ProtobufCFieldDescriptor *field)
{
    return field->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData) : sizeof(void *);
}

//  ---------------------------------------------------------------------
//  Varints: the value of `length` bytes that end one (bits past 64 are
//  dropped, as protobuf-c's parse_uint64 drops them).

static uint64_t
s_varint_value(const uint8_t *at, size_t length)
{
    uint64_t value = 0;
    for (size_t index = 0; index < length; index++) {
        value |= (uint64_t) (at[index] & S_VARINT_BITS) << (7 * index);
    }
    return value;
}

//  ---------------------------------------------------------------------
//  Length of the varint at `at` (at most S_VARINT_MAX bytes before `end`),
//  or 0 if it does not end there.

static size_t
s_varint_length(const uint8_t *at, const uint8_t *end)
{
    size_t limit = (size_t) (end - at) < S_VARINT_MAX ? (size_t) (end - at) : S_VARINT_MAX;
    for (size_t index = 0; index < limit; index++) {
        if (!(at[index] & S_VARINT_MORE)) {
            return index + 1;
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Packing. protobuf-c writes a field only when it is set: a oneof member
//  when the case names it (a string or message one when not NULL nor the
//  default), a proto3 singular field when not zero, empty or NULL
//  (field_is_zeroish); every element of a repeated field.

static bool
s_present(const ProtobufCMessage *message,
          const ProtobufCFieldDescriptor *field,
          const void *member)
{
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (*(const uint32_t *) ((const char *) message + field->quantifier_offset) != field->id) {
            return false;
        }
        if (field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_MESSAGE) {
            const void *pointer = *(const void *const *) member;
            return pointer && pointer != field->default_value;
        }
        return true;
    }
    switch (field->type) {
        case PROTOBUF_C_TYPE_BOOL:
            return *(const protobuf_c_boolean *) member != 0;
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_ENUM:
        case PROTOBUF_C_TYPE_UINT32:
            return *(const uint32_t *) member != 0;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_UINT64:
            return *(const uint64_t *) member != 0;
        case PROTOBUF_C_TYPE_STRING: {
            const char *text = *(const char *const *) member;
            return text && *text;
        }
        case PROTOBUF_C_TYPE_BYTES:
            return ((const ProtobufCBinaryData *) member)->len != 0;
        default:
            return *(const void *const *) member != NULL;
    }
}

//  ---------------------------------------------------------------------
//  Bytes of a varint.

static size_t
s_varint_size(uint64_t value)
{
    //  7 bits a byte: (significant bits + 6) / 7, at least one byte.
    return value <= S_VARINT_BITS ? 1 : (size_t) (64 - __builtin_clzll(value) + 6) / 7;
}

//  ---------------------------------------------------------------------
//  Write a varint so that it ends at `at`, not before `start`. Returns
//  where it begins, or NULL if it does not fit.

static uint8_t *
s_varint_back(uint8_t *start, uint8_t *at, uint64_t value)
{
    size_t size = s_varint_size(value);
    if ((size_t) (at - start) < size) {
        return NULL;
    }
    at -= size;
    uint8_t *out = at;
    while (value > S_VARINT_BITS) {
        *out++ = (uint8_t) (value | S_VARINT_MORE);
        value >>= 7;
    }
    *out = (uint8_t) value;
    return at;
}

//  ---------------------------------------------------------------------
//  Write `length` bytes and their length (a uint32 in protobuf-c) so that
//  they end at `at`. Returns where they begin, or NULL (also for bytes
//  that are not there: protobuf-c would crash).

static uint8_t *
s_bytes_back(uint8_t *start, uint8_t *at, const void *bytes, size_t length)
{
    if (length > UINT32_MAX || (size_t) (at - start) < length || (length > 0 && !bytes)) {
        return NULL;
    }
    at -= length;
    if (length > 0) {
        memcpy(at, bytes, length);
    }
    return s_varint_back(start, at, length);
}

static uint8_t *
s_pack_back(const ProtobufCMessage *message, uint8_t *start, uint8_t *end, int depth);

//  ---------------------------------------------------------------------
//  Write a submessage (none: an empty one) and its length so that they end
//  at `at`. Returns where they begin, or NULL. Not inlined: the recursion
//  stays here, and writing scalars costs no call.

static __attribute__((noinline)) uint8_t *
s_message_back(const ProtobufCMessage *child, uint8_t *start, uint8_t *at, int depth)
{
    uint8_t *child_start = child ? s_pack_back(child, start, at, depth + 1) : at;
    return child_start ? s_varint_back(start, child_start, (size_t) (at - child_start)) : NULL;
}

//  ---------------------------------------------------------------------
//  Write one value and its tag (required_field_pack) so that they end at
//  `at`. Returns where they begin, or NULL.

static inline uint8_t *
s_value_back(const ProtobufCFieldDescriptor *field,
             const void *member,
             uint8_t *start,
             uint8_t *at,
             int depth)
{
    switch (field->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_ENUM:
            //  Negative ones sign-extended to ten bytes (int32_pack).
            at = s_varint_back(start, at, (uint64_t) (int64_t) * (const int32_t *) member);
            break;
        case PROTOBUF_C_TYPE_UINT32:
            at = s_varint_back(start, at, *(const uint32_t *) member);
            break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_UINT64:
            at = s_varint_back(start, at, *(const uint64_t *) member);
            break;
        case PROTOBUF_C_TYPE_BOOL:
            at = s_varint_back(start, at, *(const protobuf_c_boolean *) member ? 1 : 0);
            break;
        case PROTOBUF_C_TYPE_STRING: {
            const char *text = *(const char *const *) member;
            at = s_bytes_back(start, at, text, text ? strlen(text) : 0);
            break;
        }
        case PROTOBUF_C_TYPE_BYTES: {
            const ProtobufCBinaryData *bytes = member;
            at = s_bytes_back(start, at, bytes->data, bytes->len);
            break;
        }
        default:
            at = s_message_back(*(const ProtobufCMessage *const *) member, start, at, depth);
            break;
    }
    if (!at) {
        return NULL;
    }
    return s_varint_back(start, at, (uint64_t) field->id << S_TAG_SHIFT | s_wire_type(field));
}

//  ---------------------------------------------------------------------
//  Write a message so that it ends at `end`: its fields from the last to
//  the first, each one's value before its length and tag, so the bytes
//  come out in protobuf-c's order. Returns where it begins, or NULL.

static uint8_t *
s_pack_back(const ProtobufCMessage *message, uint8_t *start, uint8_t *end, int depth)
{
    if (depth > S_DEPTH_MAX || message->n_unknown_fields > 0) {
        return NULL;
    }
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    uint8_t *at = end;
    for (unsigned index = descriptor->n_fields; index-- > 0;) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[index];
        if (!s_field_supported(field)) {
            return NULL;
        }
        const char *member = (const char *) message + field->offset;
        if (field->label != PROTOBUF_C_LABEL_REPEATED) {
            if (s_present(message, field, member)) {
                at = s_value_back(field, member, start, at, depth);
            }
        } else {
            size_t count = *(const size_t *) ((const char *) message + field->quantifier_offset);
            const char *array = *(const char *const *) member;
            if (count > 0 && !array) {
                return NULL; //  elements that are not there (protobuf-c would crash)
            }
            for (size_t element = count; element-- > 0 && at;) {
                at = s_value_back(field, array + element * s_element_size(field), start, at, depth);
            }
        }
        if (!at) {
            return NULL;
        }
    }
    return at;
}

uint8_t *
bus_wire_pack(const ProtobufCMessage *message, uint8_t *buffer, size_t size)
{
    assert(message);
    assert(buffer);
    return s_pack_back(message, buffer, buffer + size, 0);
}

//  ---------------------------------------------------------------------
//  Read a varint of at most `max` bytes before `end` at *at_p, moving past
//  it. False if it does not end there.

static bool
s_varint_read(const uint8_t **at_p, const uint8_t *end, size_t max, uint64_t *value_out)
{
    const uint8_t *at = *at_p;
    if (at < end && *at <= S_VARINT_BITS) {
        *value_out = *at;
        *at_p = at + 1;
        return true;
    }
    size_t limit = (size_t) (end - at) < max ? (size_t) (end - at) : max;
    size_t length = s_varint_length(at, at + limit);
    if (length == 0) {
        return false;
    }
    *value_out = s_varint_value(at, length);
    *at_p = at + length;
    return true;
}

//  ---------------------------------------------------------------------
//  The index of the field of number `id`, looked for from index `hint` on
//  (fields come in number order, as the descriptor lists them), or -1.

static int
s_field_find(const ProtobufCMessageDescriptor *descriptor, uint32_t id, unsigned hint)
{
    const ProtobufCFieldDescriptor *fields = descriptor->fields;
    if (hint > 0 && fields[hint - 1].id == id) {
        return (int) hint - 1; //  the next element of a repeated field
    }
    while (hint < descriptor->n_fields && fields[hint].id < id) {
        hint++;
    }
    if (hint < descriptor->n_fields && fields[hint].id == id) {
        return (int) hint;
    }
    const ProtobufCFieldDescriptor *field =
        id > 0 && id <= INT32_MAX ? protobuf_c_message_descriptor_get_field(descriptor, id) : NULL;
    return field ? (int) (field - fields) : -1;
}

//  ---------------------------------------------------------------------
//  Read the field at *at_p (before `end`) into `item`: its tag, as
//  protobuf-c's parse_tag_and_wiretype reads it, and its value's extent
//  (scan_length_prefixed_data: a length of at most five bytes that fits).
//  False if it is not one this codec reads. `hint` is the index after the
//  last field read.

static bool
s_item_read(const ProtobufCMessageDescriptor *descriptor,
            const uint8_t *data,
            const uint8_t **at_p,
            const uint8_t *end,
            unsigned *hint,
            s_item_t *item)
{
    uint64_t tag;
    if (!s_varint_read(at_p, end, S_TAG_MAX, &tag)) {
        return false;
    }
    unsigned wire_type = (unsigned) (tag & S_WIRE_TYPE_MASK);
    int index = s_field_find(descriptor, (uint32_t) (tag >> S_TAG_SHIFT), *hint);
    if (index < 0) {
        return false;
    }
    const ProtobufCFieldDescriptor *field = &descriptor->fields[index];
    if (!s_field_supported(field) || s_wire_type(field) != wire_type) {
        return false;
    }
    item->index = (uint32_t) index;
    *hint = (unsigned) index + 1;
    const uint8_t *at = *at_p;
    if (wire_type == PROTOBUF_C_WIRE_TYPE_VARINT) {
        size_t length = at < end && *at <= S_VARINT_BITS ? 1 : s_varint_length(at, end);
        item->offset = (uint32_t) (at - data);
        item->length = (uint32_t) length;
        *at_p = at + length;
        return length > 0;
    }
    //  A length that does not fit is declined whole: protobuf-c versions
    //  differ on lengths past 31 bits (cut to 32 bits, or refused).
    uint64_t length;
    if (!s_varint_read(&at, end, S_LENGTH_MAX, &length) || length > (uint64_t) (end - at)) {
        return false;
    }
    item->offset = (uint32_t) (at - data);
    item->length = (uint32_t) length;
    *at_p = at + (uint32_t) length;
    return true;
}

//  ---------------------------------------------------------------------
//  The arrays of repeated fields, at the counts the read left in the
//  message's own counters (which restart at 0, to be counted again as the
//  elements are stored).

static bool
s_alloc_arrays(ProtobufCMessage *message, ProtobufCAllocator *allocator)
{
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    char *base = (char *) message;
    for (unsigned index = 0; index < descriptor->n_fields; index++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[index];
        if (field->label != PROTOBUF_C_LABEL_REPEATED) {
            continue;
        }
        size_t *count = (size_t *) (base + field->quantifier_offset);
        if (*count == 0) {
            continue;
        }
        void *array = allocator->alloc(allocator->allocator_data, *count * s_element_size(field));
        if (!array) {
            return false;
        }
        *(void **) (base + field->offset) = array;
        *count = 0;
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Store one value (parse_required_member's conversions).

static ProtobufCMessage *s_unpack(const ProtobufCMessageDescriptor *descriptor,
                                  ProtobufCAllocator *allocator,
                                  const uint8_t *data,
                                  size_t size,
                                  int depth);

//  A submessage. Not inlined: the recursion stays here, and storing
//  scalars costs no call.

static __attribute__((noinline)) bool
s_message_store(const ProtobufCFieldDescriptor *field,
                const uint8_t *value,
                size_t length,
                void *member,
                ProtobufCAllocator *allocator,
                int depth)
{
    ProtobufCMessage *child = s_unpack(field->descriptor, allocator, value, length, depth + 1);
    *(ProtobufCMessage **) member = child;
    return child != NULL;
}

static inline bool
s_value_store(const ProtobufCFieldDescriptor *field,
              const uint8_t *value,
              size_t length,
              void *member,
              ProtobufCAllocator *allocator,
              int depth)
{
    switch (field->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_ENUM:
        case PROTOBUF_C_TYPE_UINT32:
            *(uint32_t *) member = (uint32_t) s_varint_value(value, length);
            return true;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_UINT64:
            *(uint64_t *) member = s_varint_value(value, length);
            return true;
        case PROTOBUF_C_TYPE_BOOL: {
            //  True if any bit is set, even one a tenth byte shifts out.
            protobuf_c_boolean set = 0;
            for (size_t index = 0; index < length; index++) {
                set |= (value[index] & S_VARINT_BITS) != 0;
            }
            *(protobuf_c_boolean *) member = set;
            return true;
        }
        case PROTOBUF_C_TYPE_STRING: {
            char *text = allocator->alloc(allocator->allocator_data, length + 1);
            if (!text) {
                return false;
            }
            memcpy(text, value, length);
            text[length] = '\0';
            *(char **) member = text;
            return true;
        }
        case PROTOBUF_C_TYPE_BYTES: {
            ProtobufCBinaryData *bytes = member;
            bytes->data = NULL;
            bytes->len = length;
            if (length > 0) {
                bytes->data = allocator->alloc(allocator->allocator_data, length);
                if (!bytes->data) {
                    return false;
                }
                memcpy(bytes->data, value, length);
            }
            return true;
        }
        default:
            return s_message_store(field, value, length, member, allocator, depth);
    }
}

//  ---------------------------------------------------------------------
//  Read every field of a message, storing singular ones at once; the
//  elements of repeated ones are counted in the message's own counters
//  (which protobuf-c's init set to 0) and kept in `items` until their
//  arrays exist. A singular field, or any member of a oneof, seen twice
//  is declined (protobuf-c would replace or merge it). Returns the number
//  of items kept, or -1.

static int
s_read(ProtobufCMessage *message,
       ProtobufCAllocator *allocator,
       const uint8_t *data,
       size_t size,
       s_item_t items[S_ITEMS_MAX],
       int depth)
{
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    char *base = (char *) message;
    const uint8_t *at = data;
    const uint8_t *end = data + size;
    uint64_t seen = 0;
    unsigned hint = 0;
    int count = 0;
    while (at < end) {
        s_item_t item;
        if (!s_item_read(descriptor, data, &at, end, &hint, &item)) {
            return -1;
        }
        const ProtobufCFieldDescriptor *field = &descriptor->fields[item.index];
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            if (count == S_ITEMS_MAX) {
                return -1;
            }
            items[count++] = item;
            (*(size_t *) (base + field->quantifier_offset))++;
            continue;
        }
        if (seen & (UINT64_C(1) << item.index)) {
            return -1;
        }
        seen |= UINT64_C(1) << item.index;
        if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t *oneof_case = (uint32_t *) (base + field->quantifier_offset);
            if (*oneof_case != 0) {
                return -1;
            }
            *oneof_case = field->id;
        }
        if (!s_value_store(field, data + item.offset, item.length, base + field->offset, allocator,
                           depth)) {
            return -1;
        }
    }
    return count;
}

//  ---------------------------------------------------------------------
//  Store the elements of repeated fields, in order, into their arrays.

static bool
s_fill(ProtobufCMessage *message,
       ProtobufCAllocator *allocator,
       const uint8_t *data,
       const s_item_t *items,
       int count,
       int depth)
{
    const ProtobufCFieldDescriptor *fields = message->descriptor->fields;
    char *base = (char *) message;
    for (int index = 0; index < count; index++) {
        const s_item_t *item = &items[index];
        const ProtobufCFieldDescriptor *field = &fields[item->index];
        size_t *elements = (size_t *) (base + field->quantifier_offset);
        char *member = *(char **) (base + field->offset) + *elements * s_element_size(field);
        (*elements)++;
        if (!s_value_store(field, data + item->offset, item->length, member, allocator, depth)) {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Unpack one message: allocate and init it, read it, then store its
//  repeated fields.

static ProtobufCMessage *
s_unpack(const ProtobufCMessageDescriptor *descriptor,
         ProtobufCAllocator *allocator,
         const uint8_t *data,
         size_t size,
         int depth)
{
    if (depth > S_DEPTH_MAX || descriptor->n_fields > S_FIELDS_MAX || !descriptor->message_init ||
        size > UINT32_MAX) {
        return NULL;
    }
    ProtobufCMessage *message =
        allocator->alloc(allocator->allocator_data, descriptor->sizeof_message);
    if (!message) {
        return NULL;
    }
    descriptor->message_init(message);
    s_item_t items[S_ITEMS_MAX];
    int count = s_read(message, allocator, data, size, items, depth);
    if (count < 0 || (count > 0 && (!s_alloc_arrays(message, allocator) ||
                                    !s_fill(message, allocator, data, items, count, depth)))) {
        return NULL;
    }
    return message;
}

ProtobufCMessage *
bus_wire_unpack(const ProtobufCMessageDescriptor *descriptor,
                ProtobufCAllocator *allocator,
                const uint8_t *data,
                size_t size)
{
    assert(descriptor);
    assert(allocator);
    assert(data || size == 0);
    return s_unpack(descriptor, allocator, data, size, 0);
}
