/*  =========================================================================
    contract_golden_gen - write the golden Envelope samples of proto/golden

    Usage: contract_golden_gen [DIR]        (DIR defaults to proto/golden)

    Writes <name>.hex for every sample of contract_samples whose file does
    not exist yet, and checks every file that does. It never overwrites: a
    sample whose bytes changed is reported and the tool exits with 1,
    because a changed encoding of an existing sample is a breaking change
    (proto/README.md). It is built with the tests but not run by ctest.
    =========================================================================
*/
#include "contract_samples.h"

//  ---------------------------------------------------------------------
//  Create `path` holding `hex` and a newline; fails if the file exists.

static int
s_write_new(const char *path, const char *hex)
{
    //  "x" (C11): create exclusively, never truncate an existing sample.
    FILE *file = fopen(path, "wx");
    if (!file) {
        (void) fprintf(stderr, "contract_golden_gen: cannot create %s: %s\n", path,
                       strerror(errno));
        return -1;
    }
    int rc = fprintf(file, "%s\n", hex) < 0 ? -1 : 0;
    if (fclose(file) != 0) {
        rc = -1;
    }
    if (rc != 0) {
        (void) fprintf(stderr, "contract_golden_gen: cannot write %s\n", path);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Write or check the golden file of sample `index`. Returns 0 if the
//  file now holds the sample's bytes, -1 otherwise.

static int
s_generate(const char *dir, size_t index)
{
    const char *name = contract_samples_name(index);
    zchunk_t *packed = contract_samples_pack(index);
    char *hex = contract_samples_hex_encode(zchunk_data(packed), zchunk_size(packed));
    char *path = zsys_sprintf("%s/%s.hex", dir, name);
    char *golden = NULL;
    int rc = 0;
    if (!zsys_file_exists(path)) {
        rc = s_write_new(path, hex);
        if (rc == 0) {
            printf("wrote     %s (%zu bytes)\n", path, zchunk_size(packed));
        }
        goto cleanup;
    }
    golden = contract_samples_golden_read(dir, index);
    if (!golden) {
        (void) fprintf(stderr, "contract_golden_gen: %s is not one line of hex\n", path);
        rc = -1;
    } else if (!streq(golden, hex)) {
        (void) fprintf(stderr,
                       "contract_golden_gen: %s CHANGED: the sample now encodes as\n%s\n"
                       "A changed encoding of an existing sample breaks every reader; "
                       "the file is left as it is (proto/README.md).\n",
                       path, hex);
        rc = -1;
    } else {
        printf("unchanged %s\n", path);
    }
cleanup:
    zstr_free(&golden);
    zstr_free(&path);
    zstr_free(&hex);
    zchunk_destroy(&packed);
    return rc;
}

//  ---------------------------------------------------------------------
//  Write or check every sample; exit 1 if any failed, 2 on bad usage.

int
main(int argc, char *argv[])
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        (void) fprintf(stderr, "usage: %s [DIR]   (default %s)\n", argv[0], GOLDEN_DIR);
        return 2;
    }
    const char *dir = argc == 2 ? argv[1] : GOLDEN_DIR;
    int failed = 0;
    for (size_t index = 0; index < CONTRACT_SAMPLES_COUNT; index++) {
        if (s_generate(dir, index) != 0) {
            failed++;
        }
    }
    return failed ? 1 : 0;
}
