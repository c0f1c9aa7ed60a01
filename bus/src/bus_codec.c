/*  =========================================================================
    bus_codec - the protobuf plumbing of the wire codec (private)

    Arenas: a message is unpacked into one malloc'd block (its first
    allocation right after the arena's header, so that the message finds
    its arena), more blocks only if that one is full, all within a budget.
    protobuf-c's allocator interface is what both bus_wire and protobuf-c
    unpack through, so the arena serves both. Packing: bus_wire writes
    backwards into a stack buffer and the bytes are copied once into the
    frame; protobuf-c sizes the message first and packs straight into it.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_codec.h"
#include "bus_envelope.h"
#include "bus_wire.h"

//  Alignment of every arena allocation, as malloc's.
#define S_ARENA_ALIGN _Alignof(max_align_t)

//  The first block of an arena holds S_ARENA_FIRST_BASE bytes plus
//  S_ARENA_FIRST_FACTOR times the frame: a real envelope needs about twice
//  its frame (bus_envelope.h), so it unpacks without a second malloc.
#define S_ARENA_FIRST_BASE 512
#define S_ARENA_FIRST_FACTOR 4

//  A block an arena added when its first one was full; its memory follows.
typedef struct s_arena_chunk_t {
    struct s_arena_chunk_t *next; //  the block added before it, or NULL
} s_arena_chunk_t;

//  What one unpack allocates from, and the allocator's data: a bump arena
//  on a budget. One malloc holds this header and the first block; the
//  first allocation (the unpacked message) starts right after the header.
typedef struct {
    uint8_t *next;           //  free memory in the current block
    uint8_t *end;            //  end of the current block
    size_t left;             //  bytes that may still be allocated
    size_t grow;             //  size of the next block to add
    s_arena_chunk_t *chunks; //  blocks added, newest first
    bool exceeded;           //  an allocation was refused
    bool generic;            //  protobuf-c unpacked the message (bus_wire declined)
    const uint8_t *kept;     //  the bytes unpacked, copied after the first block, or NULL
    size_t kept_size;        //  their size
} s_arena_t;

//  ---------------------------------------------------------------------
//  Arenas: what protobuf-c unpacks into. A budget (bus_envelope.h,
//  BUS_UNPACK_BUDGET_BASE) bounds them: real envelopes need about twice
//  their size, but a frame of tiny fields costs protobuf-c up to 60 times
//  its size (1 MiB of empty order items asks for 63 MB), which would let any
//  peer make every subscriber allocate that much per frame. A refusal (NULL)
//  makes protobuf-c give up and fail. Memory is bumped off blocks and never
//  freed one by one: protobuf-c's ~10 allocations per envelope become one
//  malloc, and destroying a message is one free (two or more only for
//  messages larger than the first block).

//  Size of the arena header, rounded up so that the first allocation is
//  aligned.
#define S_ARENA_HEADER ((sizeof(s_arena_t) + S_ARENA_ALIGN - 1) / S_ARENA_ALIGN * S_ARENA_ALIGN)
#define S_ARENA_CHUNK_HEADER                                                                       \
    ((sizeof(s_arena_chunk_t) + S_ARENA_ALIGN - 1) / S_ARENA_ALIGN * S_ARENA_ALIGN)

//  ---------------------------------------------------------------------
//  A new arena for unpacking the frame of `size` bytes (at most
//  BUS_FRAME_MAX) at `data`, its budget BUS_UNPACK_BUDGET_BASE +
//  BUS_UNPACK_BUDGET_FACTOR * size bytes. With `keep`, the same malloc
//  also holds a copy of the frame, behind the first block, where
//  allocations never reach (and outside the budget, which is about what
//  unpacking makes of a frame).

static void s_arena_reset(s_arena_t *arena, size_t size);

static s_arena_t *
s_arena_new(const void *data, size_t size, bool keep)
{
    assert(size <= BUS_FRAME_MAX);
    size_t first = S_ARENA_FIRST_BASE + S_ARENA_FIRST_FACTOR * size;
    s_arena_t *arena = (s_arena_t *) malloc(S_ARENA_HEADER + first + (keep ? size : 0));
    assert(arena);
    arena->chunks = NULL;
    arena->kept = NULL;
    arena->kept_size = 0;
    s_arena_reset(arena, size);
    if (keep) {
        uint8_t *kept = (uint8_t *) arena + S_ARENA_HEADER + first;
        if (size > 0) {
            memcpy(kept, data, size);
        }
        arena->kept = kept;
        arena->kept_size = size;
    }
    return arena;
}

//  ---------------------------------------------------------------------
//  Free the blocks an arena added.

static void
s_arena_free_chunks(s_arena_t *arena)
{
    s_arena_chunk_t *chunk = arena->chunks;
    while (chunk) {
        s_arena_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    arena->chunks = NULL;
}

//  ---------------------------------------------------------------------
//  Empty an arena for unpacking the same frame of `size` bytes again: as
//  new, without a malloc (a kept copy of the frame stays).

static void
s_arena_reset(s_arena_t *arena, size_t size)
{
    s_arena_free_chunks(arena);
    size_t first = S_ARENA_FIRST_BASE + S_ARENA_FIRST_FACTOR * size;
    uint8_t *block = (uint8_t *) arena + S_ARENA_HEADER;
    arena->next = block;
    arena->end = block + first;
    arena->left = BUS_UNPACK_BUDGET_BASE + BUS_UNPACK_BUDGET_FACTOR * size;
    arena->grow = first;
    arena->exceeded = false;
    arena->generic = false;
}

//  ---------------------------------------------------------------------
//  Free an arena and every block it added; accepts NULL and nulls the
//  caller's pointer.

static void
s_arena_destroy(s_arena_t **arena_p)
{
    assert(arena_p);
    s_arena_t *arena = *arena_p;
    if (arena) {
        s_arena_free_chunks(arena);
        free(arena);
        *arena_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  The first allocation of an arena: where the unpacked message is.

static void *
s_arena_first(s_arena_t *arena)
{
    return (uint8_t *) arena + S_ARENA_HEADER;
}

//  ---------------------------------------------------------------------
//  The arena of a message unpacked by bus_codec_unpack.

static s_arena_t *
s_arena_of(const ProtobufCMessage *message)
{
    return (s_arena_t *) (void *) ((uint8_t *) message - S_ARENA_HEADER);
}

//  ---------------------------------------------------------------------
//  Add a block that holds at least `size` bytes, at most what is left of
//  the budget: once a block holds all of it, no other one is added.

static void
s_arena_extend(s_arena_t *arena, size_t size)
{
    size_t capacity = arena->grow * 2 < arena->left ? arena->grow * 2 : arena->left;
    capacity = capacity > size ? capacity : size;
    s_arena_chunk_t *chunk = (s_arena_chunk_t *) malloc(S_ARENA_CHUNK_HEADER + capacity);
    assert(chunk);
    chunk->next = arena->chunks;
    arena->chunks = chunk;
    arena->grow = capacity;
    arena->next = (uint8_t *) chunk + S_ARENA_CHUNK_HEADER;
    arena->end = arena->next + capacity;
}

//  ---------------------------------------------------------------------
//  protobuf-c allocator functions: bump `size` bytes, rounded up to the
//  alignment, off the arena within its budget; free does nothing.

static void *
s_arena_alloc(void *data, size_t size)
{
    s_arena_t *arena = (s_arena_t *) data;
    size_t rounded = (size + S_ARENA_ALIGN - 1) / S_ARENA_ALIGN * S_ARENA_ALIGN;
    if (rounded < size || rounded > arena->left) {
        arena->exceeded = true;
        return NULL;
    }
    if (rounded > (size_t) (arena->end - arena->next)) {
        s_arena_extend(arena, rounded);
    }
    arena->left -= rounded;
    void *pointer = arena->next;
    arena->next += rounded;
    return pointer;
}

static void
s_arena_free(void *data, void *pointer)
{
    (void) data;
    (void) pointer;
}

//  ---------------------------------------------------------------------
//  Unpack a message into `arena`: with bus_wire, or with protobuf-c when
//  bus_wire declines (the arena emptied first, so that the message is
//  again its first allocation). NULL if protobuf-c fails too.

static ProtobufCMessage *
s_arena_unpack(s_arena_t *arena,
               const ProtobufCMessageDescriptor *descriptor,
               const void *data,
               size_t size)
{
    ProtobufCAllocator allocator = {s_arena_alloc, s_arena_free, arena};
    ProtobufCMessage *message = bus_wire_unpack(descriptor, &allocator, data, size);
    if (!message) {
        s_arena_reset(arena, size);
        arena->generic = true;
        message = protobuf_c_message_unpack(descriptor, &allocator, size, data);
    }
    return message;
}

//  ---------------------------------------------------------------------
//  Unpack a message into a new arena that it then owns.

bus_rc_t
bus_codec_unpack(const ProtobufCMessageDescriptor *descriptor,
                 const void *data,
                 size_t size,
                 bool keep,
                 ProtobufCMessage **message_out)
{
    assert(descriptor);
    assert(data || size == 0);
    assert(message_out);
    *message_out = NULL;
    s_arena_t *arena = s_arena_new(data, size, keep);
    ProtobufCMessage *message = s_arena_unpack(arena, descriptor, data, size);
    if (!message) {
        bus_rc_t rc = arena->exceeded ? BUS_TOO_LARGE : BUS_MALFORMED;
        s_arena_destroy(&arena);
        return rc;
    }
    //  bus_wire and protobuf-c allocate the message before anything it
    //  points to, so bus_codec_free finds the arena in front of it.
    assert((void *) message == s_arena_first(arena));
    *message_out = message;
    return BUS_OK;
}

//  ---------------------------------------------------------------------
//  Free an unpacked message: free its arena.

void
bus_codec_free(ProtobufCMessage **message_p)
{
    assert(message_p);
    if (*message_p) {
        s_arena_t *arena = s_arena_of(*message_p);
        s_arena_destroy(&arena);
        *message_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  True if protobuf-c unpacked the message.

bool
bus_codec_generic(const ProtobufCMessage *message)
{
    assert(message);
    return s_arena_of(message)->generic;
}

//  ---------------------------------------------------------------------
//  The bytes kept with an unpacked message.

const void *
bus_codec_kept(const ProtobufCMessage *message)
{
    assert(message);
    return s_arena_of(message)->kept;
}

size_t
bus_codec_kept_size(const ProtobufCMessage *message)
{
    assert(message);
    return s_arena_of(message)->kept_size;
}

//  ---------------------------------------------------------------------
//  The size of a packed message (bus_wire's, or protobuf-c's if `packed`
//  is NULL), or SIZE_MAX if it is larger than `max_size`.

static size_t
s_packed_size(const ProtobufCMessage *message,
              const uint8_t *packed,
              size_t packed_size,
              size_t max_size)
{
    size_t size = packed ? packed_size : protobuf_c_message_get_packed_size(message);
    return size <= max_size ? size : SIZE_MAX;
}

//  ---------------------------------------------------------------------
//  Write the topic and its separator if any (`body_at` bytes), then the
//  `size` bytes of the packed message, into `data`.

static void
s_write(uint8_t *data,
        const char *topic,
        size_t body_at,
        const ProtobufCMessage *message,
        const uint8_t *packed,
        size_t size)
{
    if (topic) {
        memcpy(data, topic, body_at - 1);
        data[body_at - 1] = BUS_TOPIC_SEPARATOR;
    }
    if (packed) {
        memcpy(data + body_at, packed, size);
    } else {
        size_t written = protobuf_c_message_pack(message, data + body_at);
        assert(written == size);
    }
}

//  ---------------------------------------------------------------------
//  A new frame: the topic and its separator if any, then the message
//  packed by bus_wire (copied) or, if `packed` is NULL, by protobuf-c,
//  straight into the frame's buffer.

zframe_t *
bus_codec_frame(const ProtobufCMessage *message,
                const uint8_t *packed,
                size_t packed_size,
                const char *topic,
                size_t max_size)
{
    assert(message);
    size_t size = s_packed_size(message, packed, packed_size, max_size);
    if (size == SIZE_MAX) {
        return NULL;
    }
    size_t body_at = topic ? strlen(topic) + 1 : 0;
    zframe_t *frame = zframe_new(NULL, body_at + size);
    s_write(zframe_data(frame), topic, body_at, message, packed, size);
    return frame;
}

//  ---------------------------------------------------------------------
//  The same into a ZeroMQ message.

int
bus_codec_msg(const ProtobufCMessage *message,
              const uint8_t *packed,
              size_t packed_size,
              const char *topic,
              size_t max_size,
              zmq_msg_t *msg_out)
{
    assert(message);
    assert(msg_out);
    size_t size = s_packed_size(message, packed, packed_size, max_size);
    if (size == SIZE_MAX) {
        return -1;
    }
    size_t body_at = topic ? strlen(topic) + 1 : 0;
    int rc = zmq_msg_init_size(msg_out, body_at + size);
    assert(rc == 0); //  fails only without memory, which aborts elsewhere too
    s_write((uint8_t *) zmq_msg_data(msg_out), topic, body_at, message, packed, size);
    return 0;
}

//  ---------------------------------------------------------------------
//  Pack a message into a new frame.

zframe_t *
bus_codec_pack(const ProtobufCMessage *message, const char *topic, size_t max_size)
{
    assert(message);
    //  bus_wire packs in one pass, on the stack; protobuf-c sizes, then
    //  packs (and sizes each submessage again), what bus_wire declines or
    //  what does not fit.
    uint8_t scratch[BUS_CODEC_SCRATCH];
    const uint8_t *packed = bus_wire_pack(message, scratch, sizeof scratch);
    size_t size = packed ? (size_t) (scratch + sizeof scratch - packed) : 0;
    return bus_codec_frame(message, packed, size, topic, max_size);
}
