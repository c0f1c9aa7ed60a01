/*  =========================================================================
    bus_keys - CURVE key files and the allow-list of client keys

    With CURVE on (docs/protocol.md section 9), the PUB and ROUTER sockets
    of a publisher are CURVE servers, and the SUB and DEALER sockets of a
    subscriber are CURVE clients. Keys live in czmq certificate files, as
    zcert_save and tools/evbus-keygen write them: NAME holds the public key
    and NAME_secret both keys. Kubernetes mounts them from Secrets.

    A server lets in only the clients whose public certificates sit in an
    allow directory. That check is czmq's zauth actor, the ZAP handler of
    the process: bus_auth_new starts it, and it must outlive every CURVE
    server socket. Without a ZAP handler libzmq lets every client key in,
    so bus_keys_server_apply refuses to make a server when none runs.

    zauth re-reads the allow directory during a handshake when the
    directory's file count, total size or newest modification time
    (seconds) has changed since the last read (czmq 4.2.1's zcertstore disk
    loader). So adding or removing a certificate takes effect at the next
    handshake, with no restart. Four limits come with that:
    - Connections already made stay, even when their key is removed:
      restart the server (or the client) to cut them.
    - A refused client does not try again by itself: libzmq 4.3.4 treats
      the refusal as a protocol error, and connecting again to a known
      endpoint is a no-op. It must zsock_disconnect and zsock_connect.
    - A file rewritten with the same size within the same second can go
      unnoticed until some other change.
    - czmq aborts the process when two files hold the same public key, and
      copies certificate metadata into a 512-byte buffer without a bound.
      bus_auth_new refuses such a directory at start; files added later are
      not checked again, so keep one file per key and the metadata short
      (evbus-keygen writes under 150 bytes).

        bus_keys_rc_t reason;
        bus_auth_t *auth = bus_auth_new("/etc/evbus/allow", &reason);
        if (!auth) ... log bus_keys_strerror(reason), exit SVC_EXIT_SECURITY
        zsock_t *pub = zsock_new(ZMQ_PUB);
        if (bus_keys_server_apply(pub, "/etc/evbus/keys/order_secret") != BUS_KEYS_OK) ...
        zsock_bind(pub, "tcp://0.0.0.0:7001");
        ...
        zsock_destroy(&pub);
        bus_auth_destroy(&auth);

    The functions do not log: the caller decides and logs, naming the path.
    =========================================================================
*/
#ifndef BUS_KEYS_H_INCLUDED
#define BUS_KEYS_H_INCLUDED

#include <czmq.h>
#include <stddef.h>

//  Largest certificate file we read; a real one is about 350 bytes.
#define BUS_KEYS_FILE_MAX 16384

//  Size of zauth's buffer for the metadata of an allowed certificate
//  (czmq 4.2.1 zauth.c); each item takes 5 bytes plus name and value.
#define BUS_KEYS_METADATA_MAX 512

typedef enum {
    BUS_KEYS_OK = 0,             //  done
    BUS_KEYS_NO_CURVE,           //  libzmq was built without CURVE (libsodium)
    BUS_KEYS_NOT_FOUND,          //  no such file or directory
    BUS_KEYS_UNREADABLE,         //  not a readable regular file or directory, or too large
    BUS_KEYS_MALFORMED,          //  not a certificate: no valid curve/public-key (40 Z85 chars)
    BUS_KEYS_NO_SECRET,          //  a public certificate where NAME_secret is needed
    BUS_KEYS_MISMATCH,           //  the file's secret key does not belong to its public key
    BUS_KEYS_DUPLICATE,          //  two allowed certificates hold the same public key
    BUS_KEYS_METADATA_TOO_LARGE, //  an allowed certificate's metadata exceeds zauth's buffer
    BUS_KEYS_NO_AUTH,            //  no ZAP handler runs: a server would let every client in
    BUS_KEYS_AUTH_RUNNING        //  a ZAP handler already runs in this process
} bus_keys_rc_t;

typedef struct bus_auth bus_auth_t;

//  A one-line English description of `rc`, for log lines. Never NULL;
//  borrowed, static text.
const char *bus_keys_strerror(bus_keys_rc_t rc);

//  Start the process's ZAP handler (czmq zauth) with CURVE and the allow
//  directory `allow_dir`, after checking that the directory is readable,
//  that no two certificates in it hold the same key and that each one's
//  metadata fits zauth's buffer. There is one handler per process (per
//  ZeroMQ context); create it in main before any CURVE server socket and
//  destroy it after them. Returns NULL on failure and stores the reason in
//  *reason_out when reason_out is not NULL: BUS_KEYS_NO_CURVE, _NOT_FOUND,
//  _UNREADABLE, _DUPLICATE, _METADATA_TOO_LARGE or _AUTH_RUNNING.
//  Caller owns return value; destroy it with bus_auth_destroy.
bus_auth_t *bus_auth_new(const char *allow_dir, bus_keys_rc_t *reason_out);

//  Stop the ZAP handler. After this, CURVE servers let every client in
//  until a new handler starts. Accepts a NULL *self_p; nulls *self_p.
void bus_auth_destroy(bus_auth_t **self_p);

//  The number of distinct client keys the allow directory held at start.
size_t bus_auth_allowed_at_start(bus_auth_t *self);

//  Log every ZAP decision (client key, address, allowed or denied) from now
//  on, in czmq's plain text on the zsys log stream (stderr, STYLE rule 12).
//  zauth cannot switch this off again; it is for debugging.
void bus_auth_log_decisions(bus_auth_t *self);

//  Make `sock` a CURVE server with the keys in `server_secret_cert_path`
//  (the NAME_secret file). Call it before the socket binds (asserted): a
//  socket made by zsock_new_pub("@...") has already bound. Returns
//  BUS_KEYS_OK, or BUS_KEYS_NO_CURVE, _NOT_FOUND, _UNREADABLE, _MALFORMED,
//  _NO_SECRET (a public file was given), _MISMATCH, or _NO_AUTH (no
//  bus_auth runs in this process); on failure the socket is unchanged.
bus_keys_rc_t bus_keys_server_apply(zsock_t *sock, const char *server_secret_cert_path);

//  Make `sock` a CURVE client with its own keys from
//  `client_secret_cert_path` (a NAME_secret file) and the server's public
//  key from `server_public_cert_path` (the server's NAME file; its
//  NAME_secret would do too, but clients should not hold it). Call it
//  before the socket connects (asserted). Returns BUS_KEYS_OK, or the
//  reason of the first file that failed, client file first:
//  BUS_KEYS_NO_CURVE, _NOT_FOUND, _UNREADABLE, _MALFORMED, _NO_SECRET,
//  _MISMATCH; on failure the socket is unchanged.
bus_keys_rc_t bus_keys_client_apply(zsock_t *sock,
                                    const char *client_secret_cert_path,
                                    const char *server_public_cert_path);

#endif
