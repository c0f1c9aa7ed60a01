/*  =========================================================================
    evbus-keygen - make a CURVE key pair as two certificate files

        evbus-keygen NAME [--dir DIR] [--force]

    writes DIR/NAME (the public certificate, mode 0644: it goes into the
    servers' allow directories, or to the clients of a server) and
    DIR/NAME_secret (both keys, mode 0600: it goes into a Kubernetes Secret
    for the one process that is NAME). Both are czmq zcert files with the
    metadata name, created-by and created-at, which bus_keys and zauth read.

    Each file is written under a hidden temporary name and then linked into
    place, so a reader never sees half a file, and without --force an
    existing file is never replaced, even by a racing second run.

    The arguments are parsed by hand: svc_config takes no positional
    arguments and derives flag names from environment names, and a key
    tool should not pick up settings from the environment unasked.
    =========================================================================
*/
#include <czmq.h>
#include <sys/stat.h>
#include <unistd.h>

#undef NDEBUG
#include <assert.h>

#include "svc.h"

//  A NAME is 1..KEYGEN_NAME_MAX of [A-Za-z0-9._-], not starting with '.'
//  or '-' (zauth skips hidden files; '-' reads as a flag) and not ending in
//  "_secret" (zauth skips those as secret files).
#define KEYGEN_NAME_MAX 64
#define KEYGEN_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
#define KEYGEN_SECRET_SUFFIX "_secret"
#define KEYGEN_TEMP_PATTERN "XXXXXX"
#define KEYGEN_CREATED_BY "evbus-keygen " EVBUS_VERSION
#define KEYGEN_PUBLIC_MODE 0644
#define KEYGEN_SECRET_MODE 0600
#define KEYGEN_TIME_SIZE 32

static const char s_usage[] =
    "Usage: evbus-keygen NAME [--dir DIR] [--force]\n"
    "\n"
    "Make a CURVE key pair for the event bus as two czmq certificate files:\n"
    "  DIR/NAME         public certificate (mode 0644): put it in the allow\n"
    "                   directory of each server NAME may talk to, or give it\n"
    "                   to the clients when NAME is a server\n"
    "  DIR/NAME_secret  secret certificate (mode 0600): only for NAME itself\n"
    "\n"
    "  --dir DIR   existing directory to write to (default: .)\n"
    "  --force     replace existing files (default: refuse)\n"
    "  --help      show this text\n"
    "\n"
    "NAME is 1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or -, not\n"
    "ending in _secret. Prints the public key (Z85) and both paths.\n"
    "Exit status: 0 done, 1 could not write (or a file exists), 2 usage.\n";

typedef struct {
    const char *name; //  NAME (borrowed from argv)
    const char *dir;  //  DIR (borrowed from argv, or ".")
    bool force;       //  replace existing files
    bool help;        //  --help was given
} keygen_args_t;

//  ---------------------------------------------------------------------
//  Whether `name` is a NAME we accept.

static bool
s_name_is_valid(const char *name)
{
    size_t length = strlen(name);
    size_t suffix = strlen(KEYGEN_SECRET_SUFFIX);
    if (length == 0 || length > KEYGEN_NAME_MAX || strspn(name, KEYGEN_NAME_CHARS) != length) {
        return false;
    }
    if (name[0] == '.' || name[0] == '-') {
        return false;
    }
    return !(length >= suffix && streq(name + length - suffix, KEYGEN_SECRET_SUFFIX));
}

//  ---------------------------------------------------------------------
//  Parse argv into *args. Returns 0, or -1 after printing why to stderr.

static int
s_parse_args(int argc, char **argv, keygen_args_t *args)
{
    *args = (keygen_args_t){.dir = "."};
    for (int index = 1; index < argc; index++) {
        const char *arg = argv[index];
        if (streq(arg, "--help") || streq(arg, "-h")) {
            args->help = true;
        } else if (streq(arg, "--force")) {
            args->force = true;
        } else if (streq(arg, "--dir") && index + 1 < argc) {
            args->dir = argv[++index];
        } else if (strncmp(arg, "--dir=", 6) == 0) {
            args->dir = arg + 6;
        } else if (arg[0] == '-') {
            (void) fprintf(stderr, "evbus-keygen: unknown or incomplete option '%s'\n", arg);
            return -1;
        } else if (args->name) {
            (void) fprintf(stderr, "evbus-keygen: more than one NAME ('%s')\n", arg);
            return -1;
        } else {
            args->name = arg;
        }
    }
    if (args->help) {
        return 0;
    }
    if (!args->name) {
        (void) fprintf(stderr, "evbus-keygen: NAME is missing\n");
        return -1;
    }
    if (!s_name_is_valid(args->name)) {
        (void) fprintf(stderr, "evbus-keygen: NAME '%s' is not valid\n", args->name);
        return -1;
    }
    if (!*args->dir) {
        (void) fprintf(stderr, "evbus-keygen: --dir needs a directory\n");
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  A new certificate with our metadata. Caller owns return value.

static zcert_t *
s_new_cert(const char *name)
{
    char created_at[KEYGEN_TIME_SIZE];
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    size_t length = strftime(created_at, sizeof created_at, "%Y-%m-%dT%H:%M:%SZ", &utc);
    assert(length > 0);
    zcert_t *cert = zcert_new();
    assert(cert);
    zcert_set_meta(cert, "name", "%s", name);
    zcert_set_meta(cert, "created-by", "%s", KEYGEN_CREATED_BY);
    zcert_set_meta(cert, "created-at", "%s", created_at);
    return cert;
}

//  ---------------------------------------------------------------------
//  Write one certificate file at `path` with `mode`: first to a hidden
//  temporary file beside it, then link (no --force) or rename (--force)
//  into place. Returns 0, or -1 after printing why to stderr.

static int
s_write_cert(zcert_t *cert, const char *dir, const char *path, bool secret, bool force)
{
    int rc = -1;
    char *temp = zsys_sprintf("%s/.%s.%s", dir, strrchr(path, '/') + 1, KEYGEN_TEMP_PATTERN);
    //  mkstemp creates the file 0600, so the secret is never readable by
    //  others, not even for a moment.
    int fd = mkstemp(temp);
    if (fd < 0) {
        (void) fprintf(stderr, "evbus-keygen: cannot create a file in %s: %s\n", dir,
                       strerror(errno));
        goto cleanup;
    }
    close(fd);
    int saved = secret ? zcert_save_secret(cert, temp) : zcert_save_public(cert, temp);
    if (saved != 0 || chmod(temp, secret ? KEYGEN_SECRET_MODE : KEYGEN_PUBLIC_MODE) != 0) {
        (void) fprintf(stderr, "evbus-keygen: cannot write %s: %s\n", temp, strerror(errno));
        goto cleanup;
    }
    if ((force ? rename(temp, path) : link(temp, path)) != 0) {
        (void) fprintf(stderr, "evbus-keygen: %s: %s%s\n", path, strerror(errno),
                       errno == EEXIST ? " (use --force to replace it)" : "");
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (fd >= 0) {
        unlink(temp); //  after rename it is gone already; after link it is a second name
    }
    zstr_free(&temp);
    return rc;
}

//  ---------------------------------------------------------------------
//  Make the pair and write both files. Returns an exit status.

static int
s_make_pair(const keygen_args_t *args)
{
    struct stat info;
    if (stat(args->dir, &info) != 0 || !S_ISDIR(info.st_mode)) {
        (void) fprintf(stderr, "evbus-keygen: %s is not an existing directory\n", args->dir);
        return SVC_EXIT_FAILURE;
    }
    char *public_path = zsys_sprintf("%s/%s", args->dir, args->name);
    char *secret_path = zsys_sprintf("%s/%s%s", args->dir, args->name, KEYGEN_SECRET_SUFFIX);
    zcert_t *cert = s_new_cert(args->name);
    int status = SVC_EXIT_FAILURE;
    if (!args->force && (access(public_path, F_OK) == 0 || access(secret_path, F_OK) == 0)) {
        (void) fprintf(stderr, "evbus-keygen: %s or %s exists (use --force to replace it)\n",
                       public_path, secret_path);
        goto cleanup;
    }
    if (s_write_cert(cert, args->dir, secret_path, true, args->force) != 0) {
        goto cleanup;
    }
    if (s_write_cert(cert, args->dir, public_path, false, args->force) != 0) {
        unlink(secret_path); //  no secret without its public half
        goto cleanup;
    }
    (void) printf("public-key: %s\npublic: %s\nsecret: %s\n", zcert_public_txt(cert), public_path,
                  secret_path);
    status = fflush(stdout) == 0 ? SVC_EXIT_OK : SVC_EXIT_FAILURE;
cleanup:
    zcert_destroy(&cert);
    zstr_free(&secret_path);
    zstr_free(&public_path);
    return status;
}

int
main(int argc, char **argv)
{
    zsys_set_logstream(stderr);
    keygen_args_t args;
    if (s_parse_args(argc, argv, &args) != 0) {
        (void) fputs(s_usage, stderr);
        return SVC_EXIT_CONFIG;
    }
    if (args.help) {
        (void) fputs(s_usage, stdout);
        return SVC_EXIT_OK;
    }
    if (!zsys_has_curve()) {
        (void) fprintf(stderr,
                       "evbus-keygen: libzmq has no CURVE support (built without libsodium)\n");
        return SVC_EXIT_FAILURE;
    }
    return s_make_pair(&args);
}
