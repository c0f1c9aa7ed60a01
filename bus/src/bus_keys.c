/*  =========================================================================
    bus_keys - CURVE key files and the allow-list of client keys

    Key files are read here, not with zcert_load, for two reasons: we read
    exactly the file we are given (zcert_load quietly prefers a NAME_secret
    sibling), and we bound what we read (a key path comes from the
    environment). A file is accepted only when its public key is 40 Z85
    characters and, where it holds a secret key, that key derives the
    public one (zmq_curve_public), so a truncated or mixed-up Secret fails
    at start with a reason instead of as a silent handshake failure later.

    The allow directory is left to czmq's zauth, which re-reads it when it
    changes. We scan it once at start with zauth's own rules (zdir, skip
    *_secret, zcert_load) to refuse what would crash zauth later.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

//  libzmq's fixed ZAP endpoint (RFC 27); zauth binds its handler here.
#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"

//  Z85 text of a 32-byte key, without the NUL.
#define S_KEY_TEXT_LENGTH 40
#define S_KEY_BYTES 32

//  zcert writes forty zeros as the secret key of a public certificate.
#define S_NO_SECRET_TEXT "0000000000000000000000000000000000000000"

//  Bytes zauth spends per metadata item besides name and value: a length
//  byte for the name and four for the value (ZMTP property encoding).
#define S_METADATA_ITEM_OVERHEAD 5
#define S_METADATA_NAME_MAX 255

//  What the ZAP probe found at the endpoint.
#define S_ZAP_FREE 0    //  nothing bound: no handler runs
#define S_ZAP_TAKEN 1   //  a handler is bound
#define S_ZAP_UNKNOWN 2 //  bind failed for another reason

struct bus_auth {
    zactor_t *actor;         //  czmq's zauth actor, the ZAP handler (owned)
    size_t allowed_at_start; //  distinct client keys in the allow directory at start
};

//  The keys of one certificate file, as Z85 text.
typedef struct {
    char public_txt[S_KEY_TEXT_LENGTH + 1]; //  always set after a successful load
    char secret_txt[S_KEY_TEXT_LENGTH + 1]; //  empty unless has_secret
    bool has_secret;                        //  the file holds a real secret key
} keypair_t;

//  ---------------------------------------------------------------------
//  One line of English per reason.

const char *
bus_keys_strerror(bus_keys_rc_t rc)
{
    switch (rc) {
        case BUS_KEYS_OK:
            return "ok";
        case BUS_KEYS_NO_CURVE:
            return "libzmq has no CURVE support (built without libsodium)";
        case BUS_KEYS_NOT_FOUND:
            return "no such file or directory";
        case BUS_KEYS_UNREADABLE:
            return "cannot read it: permissions, wrong file type, or larger than "
                   "BUS_KEYS_FILE_MAX";
        case BUS_KEYS_MALFORMED:
            return "not a CURVE certificate: no curve/public-key of 40 Z85 characters";
        case BUS_KEYS_NO_SECRET:
            return "holds no secret key: give the NAME_secret file, not the public NAME";
        case BUS_KEYS_MISMATCH:
            return "the secret key does not belong to the public key in the same file";
        case BUS_KEYS_DUPLICATE:
            return "two certificates in the allow directory hold the same public key";
        case BUS_KEYS_METADATA_TOO_LARGE:
            return "a certificate's metadata exceeds zauth's 512-byte buffer";
        case BUS_KEYS_NO_AUTH:
            return "no ZAP handler runs (bus_auth_new): a CURVE server would admit any key";
        case BUS_KEYS_AUTH_RUNNING:
            return "a ZAP handler already runs in this process";
    }
    return "unknown bus_keys reason";
}

//  ---------------------------------------------------------------------
//  Map an errno from open/stat to a reason.

static bus_keys_rc_t
s_reason_from_errno(int error)
{
    return error == ENOENT || error == ENOTDIR ? BUS_KEYS_NOT_FOUND : BUS_KEYS_UNREADABLE;
}

//  ---------------------------------------------------------------------
//  Read a regular file of at most BUS_KEYS_FILE_MAX bytes into `text`
//  (BUS_KEYS_FILE_MAX + 1 bytes), NUL-terminated.

static bus_keys_rc_t
s_read_small_file(const char *path, char *text)
{
    //  O_NONBLOCK so that a FIFO planted at the path cannot block us.
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return s_reason_from_errno(errno);
    }
    bus_keys_rc_t rc = BUS_KEYS_UNREADABLE;
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size > BUS_KEYS_FILE_MAX) {
        goto cleanup;
    }
    size_t size = 0;
    while (size <= BUS_KEYS_FILE_MAX) {
        ssize_t got = read(fd, text + size, BUS_KEYS_FILE_MAX + 1 - size);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            goto cleanup;
        }
        if (got == 0) {
            break;
        }
        size += (size_t) got;
    }
    if (size <= BUS_KEYS_FILE_MAX) {
        text[size] = '\0';
        rc = BUS_KEYS_OK;
    }
cleanup:
    close(fd);
    return rc;
}

//  ---------------------------------------------------------------------
//  Whether `text` is a key: exactly 40 characters of valid Z85.

static bool
s_is_key_text(const char *text)
{
    uint8_t key[S_KEY_BYTES];
    return text && strlen(text) == S_KEY_TEXT_LENGTH && zmq_z85_decode(key, text) != NULL;
}

//  ---------------------------------------------------------------------
//  Take the keys out of a parsed certificate and check that they belong
//  together.

static bus_keys_rc_t
s_take_keys(zconfig_t *root, keypair_t *keys)
{
    const char *public_txt = zconfig_get(root, "/curve/public-key", NULL);
    const char *secret_txt = zconfig_get(root, "/curve/secret-key", NULL);
    if (!s_is_key_text(public_txt)) {
        return BUS_KEYS_MALFORMED;
    }
    memcpy(keys->public_txt, public_txt, S_KEY_TEXT_LENGTH + 1);
    keys->has_secret = secret_txt && !streq(secret_txt, S_NO_SECRET_TEXT);
    if (!keys->has_secret) {
        return BUS_KEYS_OK;
    }
    if (!s_is_key_text(secret_txt)) {
        return BUS_KEYS_MALFORMED;
    }
    char derived_txt[S_KEY_TEXT_LENGTH + 1];
    if (zmq_curve_public(derived_txt, secret_txt) != 0 || !streq(derived_txt, public_txt)) {
        return BUS_KEYS_MISMATCH;
    }
    memcpy(keys->secret_txt, secret_txt, S_KEY_TEXT_LENGTH + 1);
    return BUS_KEYS_OK;
}

//  ---------------------------------------------------------------------
//  Load the keys of the certificate file at `path` into *keys.

static bus_keys_rc_t
s_load_keys(const char *path, keypair_t *keys)
{
    memset(keys, 0, sizeof *keys);
    char *text = zmalloc(BUS_KEYS_FILE_MAX + 1);
    zconfig_t *root = NULL;
    bus_keys_rc_t rc = s_read_small_file(path, text);
    if (rc != BUS_KEYS_OK) {
        goto cleanup;
    }
    root = zconfig_str_load(text);
    rc = root ? s_take_keys(root, keys) : BUS_KEYS_MALFORMED;
cleanup:
    zconfig_destroy(&root);
    //  Wipe our copy of the secret key (czmq's parser and libzmq keep their
    //  own); explicit_bzero, because a memset before free may be dropped.
    explicit_bzero(text, BUS_KEYS_FILE_MAX + 1);
    freen(text);
    return rc;
}

//  ---------------------------------------------------------------------
//  Find out whether a ZAP handler is bound in czmq's context, by trying to
//  bind its endpoint ourselves and letting go at once.

static int
s_probe_zap_endpoint(void)
{
    zsock_t *probe = zsock_new(ZMQ_REP);
    assert(probe);
    int found = S_ZAP_FREE;
    if (zsock_bind(probe, "%s", S_ZAP_ENDPOINT) == 0) {
        zsock_unbind(probe, "%s", S_ZAP_ENDPOINT);
    } else {
        found = zmq_errno() == EADDRINUSE ? S_ZAP_TAKEN : S_ZAP_UNKNOWN;
    }
    zsock_destroy(&probe);
    return found;
}

//  ---------------------------------------------------------------------
//  The bytes zauth writes for a certificate's metadata, or SIZE_MAX when
//  a name is longer than zauth accepts.

static size_t
s_metadata_size(zcert_t *cert)
{
    size_t size = 0;
    zlist_t *names = zcert_meta_keys(cert);
    for (const char *name = zlist_first(names); name; name = zlist_next(names)) {
        const char *value = zcert_meta(cert, name);
        if (strlen(name) > S_METADATA_NAME_MAX) {
            size = SIZE_MAX;
            break;
        }
        size += S_METADATA_ITEM_OVERHEAD + strlen(name) + (value ? strlen(value) : 0);
    }
    zlist_destroy(&names);
    return size;
}

//  ---------------------------------------------------------------------
//  Check one file of the allow directory as zcertstore will load it, and
//  record its key in `seen`.

static bus_keys_rc_t
s_check_allowed_file(zfile_t *file, zrex_t *secret_name, zhashx_t *seen)
{
    const char *path = zfile_filename(file, NULL);
    if (!zfile_is_regular(file) || zrex_matches(secret_name, path)) {
        return BUS_KEYS_OK;
    }
    zcert_t *cert = zcert_load(path);
    if (!cert) {
        return BUS_KEYS_OK; //  zcertstore skips it too
    }
    bus_keys_rc_t rc = BUS_KEYS_OK;
    if (zhashx_insert(seen, zcert_public_txt(cert), (void *) "") != 0) {
        rc = BUS_KEYS_DUPLICATE; //  zcertstore_insert would assert
    } else if (s_metadata_size(cert) > BUS_KEYS_METADATA_MAX) {
        rc = BUS_KEYS_METADATA_TOO_LARGE; //  zauth would overrun its buffer
    }
    zcert_destroy(&cert);
    return rc;
}

//  ---------------------------------------------------------------------
//  Check the allow directory; on success store the number of keys in it.

static bus_keys_rc_t
s_check_allow_dir(bus_auth_t *self, const char *allow_dir)
{
    struct stat info;
    if (stat(allow_dir, &info) != 0) {
        return s_reason_from_errno(errno);
    }
    if (!S_ISDIR(info.st_mode) || access(allow_dir, R_OK | X_OK) != 0) {
        return BUS_KEYS_UNREADABLE;
    }
    zdir_t *dir = zdir_new(allow_dir, NULL);
    if (!dir) {
        return BUS_KEYS_UNREADABLE;
    }
    zfile_t **files = zdir_flatten(dir);
    zrex_t *secret_name = zrex_new("_secret$");
    assert(secret_name);
    zhashx_t *seen = zhashx_new();
    bus_keys_rc_t rc = BUS_KEYS_OK;
    for (size_t index = 0; files[index] && rc == BUS_KEYS_OK; index++) {
        rc = s_check_allowed_file(files[index], secret_name, seen);
    }
    self->allowed_at_start = zhashx_size(seen);
    zhashx_destroy(&seen);
    zrex_destroy(&secret_name);
    zdir_flatten_free(&files);
    zdir_destroy(&dir);
    return rc;
}

//  ---------------------------------------------------------------------
//  Start zauth with CURVE and the allow directory.

bus_auth_t *
bus_auth_new(const char *allow_dir, bus_keys_rc_t *reason_out)
{
    assert(allow_dir);
    bus_auth_t *self = zmalloc(sizeof *self);
    bus_keys_rc_t rc = zsys_has_curve() ? BUS_KEYS_OK : BUS_KEYS_NO_CURVE;
    if (rc == BUS_KEYS_OK) {
        rc = s_check_allow_dir(self, allow_dir);
    }
    //  zauth asserts that it can bind the ZAP endpoint: ask first.
    if (rc == BUS_KEYS_OK && s_probe_zap_endpoint() != S_ZAP_FREE) {
        rc = BUS_KEYS_AUTH_RUNNING;
    }
    if (rc == BUS_KEYS_OK) {
        self->actor = zactor_new(zauth, NULL);
        assert(self->actor); //  czmq asserts on its own pipe and thread failures too
        zstr_sendx(self->actor, "CURVE", allow_dir, NULL);
        zsock_wait(self->actor);
    }
    if (reason_out) {
        *reason_out = rc;
    }
    if (rc != BUS_KEYS_OK) {
        bus_auth_destroy(&self);
    }
    return self;
}

//  ---------------------------------------------------------------------
//  Stop zauth; its handler unbinds the ZAP endpoint as it ends.

void
bus_auth_destroy(bus_auth_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        bus_auth_t *self = *self_p;
        zactor_destroy(&self->actor);
        freen(self);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  Distinct client keys found at start.

size_t
bus_auth_allowed_at_start(bus_auth_t *self)
{
    assert(self);
    return self->allowed_at_start;
}

//  ---------------------------------------------------------------------
//  Switch on zauth's logging of each decision.

void
bus_auth_log_decisions(bus_auth_t *self)
{
    assert(self);
    zstr_sendx(self->actor, "VERBOSE", NULL);
    zsock_wait(self->actor);
}

//  ---------------------------------------------------------------------
//  Assert that `sock` has neither bound nor connected: CURVE options only
//  apply to endpoints made after they are set.

static void
s_assert_unused(zsock_t *sock)
{
    char *endpoint = zsock_last_endpoint(sock);
    bool unused = endpoint && *endpoint == '\0';
    zstr_free(&endpoint);
    assert(unused);
}

//  ---------------------------------------------------------------------
//  Make `sock` a CURVE server.

bus_keys_rc_t
bus_keys_server_apply(zsock_t *sock, const char *server_secret_cert_path)
{
    assert(sock);
    assert(server_secret_cert_path);
    s_assert_unused(sock);
    if (!zsys_has_curve()) {
        return BUS_KEYS_NO_CURVE;
    }
    keypair_t keys;
    bus_keys_rc_t rc = s_load_keys(server_secret_cert_path, &keys);
    if (rc == BUS_KEYS_OK && !keys.has_secret) {
        rc = BUS_KEYS_NO_SECRET;
    }
    //  Without a handler libzmq skips ZAP and admits every client key.
    if (rc == BUS_KEYS_OK && s_probe_zap_endpoint() != S_ZAP_TAKEN) {
        rc = BUS_KEYS_NO_AUTH;
    }
    if (rc == BUS_KEYS_OK) {
        zsock_set_curve_server(sock, 1);
        zsock_set_curve_publickey(sock, keys.public_txt);
        zsock_set_curve_secretkey(sock, keys.secret_txt);
    }
    explicit_bzero(&keys, sizeof keys);
    return rc;
}

//  ---------------------------------------------------------------------
//  Make `sock` a CURVE client of the server whose public key is given.

bus_keys_rc_t
bus_keys_client_apply(zsock_t *sock,
                      const char *client_secret_cert_path,
                      const char *server_public_cert_path)
{
    assert(sock);
    assert(client_secret_cert_path);
    assert(server_public_cert_path);
    s_assert_unused(sock);
    if (!zsys_has_curve()) {
        return BUS_KEYS_NO_CURVE;
    }
    keypair_t client;
    keypair_t server;
    bus_keys_rc_t rc = s_load_keys(client_secret_cert_path, &client);
    if (rc == BUS_KEYS_OK && !client.has_secret) {
        rc = BUS_KEYS_NO_SECRET;
    }
    if (rc == BUS_KEYS_OK) {
        rc = s_load_keys(server_public_cert_path, &server);
    }
    if (rc == BUS_KEYS_OK) {
        zsock_set_curve_publickey(sock, client.public_txt);
        zsock_set_curve_secretkey(sock, client.secret_txt);
        zsock_set_curve_serverkey(sock, server.public_txt);
    }
    explicit_bzero(&client, sizeof client);
    explicit_bzero(&server, sizeof server);
    return rc;
}
