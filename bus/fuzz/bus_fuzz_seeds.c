/*  =========================================================================
    bus_fuzz_seeds - write the seed corpus of bus_decode_fuzz

        bus_fuzz_seeds DIR

    Writes into DIR (which must exist) one binary file per golden sample
    (proto/golden/<name>.hex decoded: golden-<name>), each also as a live
    message (live-<name>: topic, NUL, envelope), and one valid frame of
    each control message (a live heartbeat too), so the fuzzer starts from
    inputs that get through unpacking and exercises the validation behind
    it, plus two frames that exceed the unpacking budget. Exits 0, or 1
    with a message on stderr.
    =========================================================================
*/
#include "contract_samples.h"
#include "bus.h"

//  Size of the seeds that exceed the unpacking budget: libFuzzer's default
//  largest input.
#define S_BUDGET_FRAME_SIZE 4096

//  ---------------------------------------------------------------------
//  Write `size` bytes to DIR/NAME; 0 or -1.

static int
s_write(const char *dir, const char *name, const void *data, size_t size)
{
    char *path = zsys_sprintf("%s/%s", dir, name);
    FILE *file = fopen(path, "wb");
    int rc = -1;
    if (file) {
        rc = fwrite(data, 1, size, file) == size ? 0 : -1;
        rc = fclose(file) == 0 ? rc : -1;
    }
    if (rc != 0) {
        (void) fprintf(stderr, "bus_fuzz_seeds: cannot write %s\n", path);
    }
    zstr_free(&path);
    return rc;
}

//  ---------------------------------------------------------------------
//  Write a frame to DIR/NAME and destroy it; 0 or -1.

static int
s_write_frame(const char *dir, const char *name, zframe_t **frame_p)
{
    assert(*frame_p);
    int rc = s_write(dir, name, zframe_data(*frame_p), zframe_size(*frame_p));
    zframe_destroy(frame_p);
    return rc;
}

//  ---------------------------------------------------------------------
//  The golden samples, as binary.

static int
s_write_golden(const char *dir)
{
    for (size_t index = 0; index < CONTRACT_SAMPLES_COUNT; index++) {
        char *hex = contract_samples_golden_read(GOLDEN_DIR, index);
        zchunk_t *bytes = hex ? contract_samples_hex_decode(hex) : NULL;
        zstr_free(&hex);
        if (!bytes) {
            (void) fprintf(stderr, "bus_fuzz_seeds: cannot read golden sample %s\n",
                           contract_samples_name(index));
            return -1;
        }
        char *name = zsys_sprintf("golden-%s", contract_samples_name(index));
        int rc = s_write(dir, name, zchunk_data(bytes), zchunk_size(bytes));
        zstr_free(&name);
        Ev__V1__Envelope *envelope = NULL;
        if (bus_envelope_decode(zchunk_data(bytes), zchunk_size(bytes), &envelope) != BUS_OK) {
            (void) fprintf(stderr, "bus_fuzz_seeds: golden sample %s does not decode\n",
                           contract_samples_name(index));
            rc = -1;
        } else {
            zmq_msg_t live;
            rc = bus_envelope_encode_live(envelope, &live);
            assert(rc == 0);
            name = zsys_sprintf("live-%s", contract_samples_name(index));
            rc |= s_write(dir, name, zmq_msg_data(&live), zmq_msg_size(&live));
            zstr_free(&name);
            zmq_msg_close(&live);
        }
        bus_envelope_destroy(&envelope);
        zchunk_destroy(&bytes);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  One valid frame of each control message.

static int
s_write_control(const char *dir)
{
    bus_heartbeat_t heartbeat = {
        .stream = "order-0", .last_seq = 4294967297, .first_seq = 1, .interval_ms = 1000};
    zframe_t *frame = bus_heartbeat_encode(&heartbeat);
    int rc = s_write_frame(dir, "heartbeat", &frame);
    frame = bus_heartbeat_encode_live(&heartbeat);
    rc |= s_write_frame(dir, "live-heartbeat", &frame);

    bus_replay_request_t request = {.stream = "inventory-0", .from_seq = 300, .max_events = 1000};
    frame = bus_replay_request_encode(&request);
    rc |= s_write_frame(dir, "replay-request", &frame);

    bus_replay_reply_t reply = {.stream = "inventory-0",
                                .status = BUS_REPLAY_OK,
                                .from_seq = 300,
                                .to_seq = 302,
                                .last_seq = 302,
                                .first_seq = 1};
    frame = bus_replay_reply_encode(&reply);
    rc |= s_write_frame(dir, "replay-reply-ok", &frame);

    reply.status = BUS_REPLAY_TRIMMED;
    reply.to_seq = 299;
    reply.first_seq = 1000;
    frame = bus_replay_reply_encode(&reply);
    rc |= s_write_frame(dir, "replay-reply-trimmed", &frame);
    return rc;
}

//  ---------------------------------------------------------------------
//  Two frames of tiny fields that exceed the unpacking budget, so that the
//  fuzzer starts from the allocation failures inside protobuf-c too: 4 KiB
//  of empty stream fields, and an OrderCreated of empty items.

static int
s_write_budget(const char *dir)
{
    uint8_t frame[S_BUDGET_FRAME_SIZE];
    for (size_t index = 0; index + 1 < sizeof frame; index += 2) {
        frame[index] = 0x0a; //  field 1 (stream), length-delimited
        frame[index + 1] = 0x00;
    }
    int rc = s_write(dir, "budget-stream-fields", frame, sizeof frame);

    //  Field 20 (order_created), length 4092 as a two-byte varint, then
    //  field 4 (items), empty, again and again.
    size_t length = sizeof frame - 4;
    frame[0] = 0xa2;
    frame[1] = 0x01;
    frame[2] = (uint8_t) (length | 0x80);
    frame[3] = (uint8_t) (length >> 7);
    for (size_t index = 4; index + 1 < sizeof frame; index += 2) {
        frame[index] = 0x22;
        frame[index + 1] = 0x00;
    }
    rc |= s_write(dir, "budget-empty-items", frame, sizeof frame);
    return rc;
}

int
main(int argc, char *argv[])
{
    if (argc != 2) {
        (void) fprintf(stderr, "usage: bus_fuzz_seeds DIR\n");
        return 1;
    }
    if (s_write_golden(argv[1]) != 0 || s_write_control(argv[1]) != 0 ||
        s_write_budget(argv[1]) != 0) {
        return 1;
    }
    return 0;
}
