/*  =========================================================================
    contract_samples - the golden Envelope samples, built in code

    One fully populated Envelope per event type, with fixed values, so that
    its packed bytes never change. The generator (contract_golden_gen) writes
    them to proto/golden/<name>.hex; the contract test builds them again and
    compares, so any change in how an existing event encodes fails the build.
    Both link this file, so they cannot drift apart.

    All samples belong to one order flow: order 5f0c2a8e-3d4b-4c6e-9a1f-
    2b7d8e9f0a1b, partition 51 (fnv1a32 of the order id mod 64).

        zchunk_t *packed = contract_samples_pack(0);
        char *hex = contract_samples_hex_encode(zchunk_data(packed),
                                                zchunk_size(packed));
        //  hex equals the text of proto/golden/order_created.hex
        zstr_free(&hex);
        zchunk_destroy(&packed);

    This header is also the private umbrella of tests/contract: it forces
    asserts on and brings in czmq first (STYLE rules 6 and 17).
    =========================================================================
*/
#ifndef CONTRACT_SAMPLES_H_INCLUDED
#define CONTRACT_SAMPLES_H_INCLUDED

#undef NDEBUG
#include <czmq.h>
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include "ev/v1/envelope.pb-c.h"

//  Number of samples: one per event type.
#define CONTRACT_SAMPLES_COUNT 7

//  Largest golden file we read, in bytes (an envelope is far smaller).
#define CONTRACT_SAMPLES_FILE_MAX 65536

//  The sample's name, e.g. "order_created"; its golden file is
//  "<name>.hex". `index` is below CONTRACT_SAMPLES_COUNT. Borrowed, static.
const char *contract_samples_name(size_t index);

//  Build sample `index` and pack it. Caller owns return value; destroy it
//  with zchunk_destroy.
zchunk_t *contract_samples_pack(size_t index);

//  The `size` bytes at `data` as lower-case hex, NUL-terminated, without a
//  newline. Caller owns return value; free it with zstr_free.
char *contract_samples_hex_encode(const uint8_t *data, size_t size);

//  The bytes of a lower-case hex text. Returns NULL if the text has an odd
//  length or any character other than 0-9 and a-f. Caller owns return
//  value; destroy it with zchunk_destroy.
zchunk_t *contract_samples_hex_decode(const char *text);

//  Read the golden file of sample `index` from directory `dir`: the text
//  before its single final newline. Returns NULL if the file is missing,
//  larger than CONTRACT_SAMPLES_FILE_MAX, or not exactly one
//  newline-terminated line. Caller owns return value; free it with
//  zstr_free.
char *contract_samples_golden_read(const char *dir, size_t index);

#endif
