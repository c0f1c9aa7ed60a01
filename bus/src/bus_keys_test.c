/*  =========================================================================
    bus_keys_test - CURVE over real TCP on 127.0.0.1, the allow-list, key
    files and the evbus-keygen tool

    Each test gets a fresh temporary directory with three key pairs (the
    server, client A and client B) and a running bus_auth whose allow
    directory holds A's public certificate only. A denial is proven by a
    socket monitor event (HANDSHAKE_FAILED_AUTH), not by waiting for
    nothing to happen; the absence of B's messages is checked after A has
    received messages sent later.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_keys.h"
#include "ts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

//  How long anything may take before the test fails.
#define S_DEADLINE_MS 5000

//  Largest output of evbus-keygen we keep.
#define S_OUTPUT_MAX 4096

typedef struct {
    char *dir;           //  temporary directory of the test (owned)
    char *allow_dir;     //  dir/allow, holding A's public certificate (owned)
    char *server_public; //  dir/server (owned)
    char *server_secret; //  dir/server_secret (owned)
    char *a_public;      //  dir/a (owned)
    char *a_secret;      //  dir/a_secret (owned)
    char *b_public;      //  dir/b (owned)
    char *b_secret;      //  dir/b_secret (owned)
    bus_auth_t *auth;    //  ZAP handler on allow_dir (owned)
} fixture_t;

//  What s_publish_until_received needs.
typedef struct {
    zsock_t *publisher;  //  PUB to send on (borrowed)
    zsock_t *subscriber; //  SUB that must receive (borrowed)
    const char *text;    //  the message
} delivery_t;

//  ---------------------------------------------------------------------
//  Make a key pair as dir/name and dir/name_secret; return the public path.

static char *
s_make_pair(const char *dir, const char *name)
{
    char *path = zsys_sprintf("%s/%s", dir, name);
    zcert_t *cert = zcert_new();
    zcert_set_meta(cert, "name", "%s", name);
    assert_int_equal(zcert_save(cert, path), 0);
    zcert_destroy(&cert);
    return path;
}

//  ---------------------------------------------------------------------
//  Copy the public certificate at `path` into `dir` under `name`.

static void
s_allow(const char *path, const char *dir, const char *name)
{
    zcert_t *cert = zcert_load(path);
    assert_non_null(cert);
    char *target = zsys_sprintf("%s/%s", dir, name);
    assert_int_equal(zcert_save_public(cert, target), 0);
    zstr_free(&target);
    zcert_destroy(&cert);
}

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->dir = ts_tmpdir_new();
    fixture->allow_dir = zsys_sprintf("%s/allow", fixture->dir);
    assert_int_equal(mkdir(fixture->allow_dir, 0700), 0);
    fixture->server_public = s_make_pair(fixture->dir, "server");
    fixture->server_secret = zsys_sprintf("%s_secret", fixture->server_public);
    fixture->a_public = s_make_pair(fixture->dir, "a");
    fixture->a_secret = zsys_sprintf("%s_secret", fixture->a_public);
    fixture->b_public = s_make_pair(fixture->dir, "b");
    fixture->b_secret = zsys_sprintf("%s_secret", fixture->b_public);
    s_allow(fixture->a_public, fixture->allow_dir, "a");

    bus_keys_rc_t reason = BUS_KEYS_NO_CURVE;
    fixture->auth = bus_auth_new(fixture->allow_dir, &reason);
    assert_non_null(fixture->auth);
    assert_int_equal(reason, BUS_KEYS_OK);
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    bus_auth_destroy(&fixture->auth);
    zstr_free(&fixture->b_secret);
    zstr_free(&fixture->b_public);
    zstr_free(&fixture->a_secret);
    zstr_free(&fixture->a_public);
    zstr_free(&fixture->server_secret);
    zstr_free(&fixture->server_public);
    zstr_free(&fixture->allow_dir);
    ts_tmpdir_remove(&fixture->dir);
    freen(fixture);
    return 0;
}

//  ---------------------------------------------------------------------
//  A CURVE server socket of `type`, bound to 127.0.0.1; stores the port.

static zsock_t *
s_server_new(fixture_t *fixture, int type, int *port)
{
    zsock_t *sock = zsock_new(type);
    assert_int_equal(bus_keys_server_apply(sock, fixture->server_secret), BUS_KEYS_OK);
    *port = zsock_bind(sock, "tcp://127.0.0.1:*");
    assert_true(*port > 0);
    return sock;
}

//  ---------------------------------------------------------------------
//  A CURVE client socket of `type` with the keys in `secret`, not yet
//  connected (so that a monitor can be attached first).

static zsock_t *
s_client_new(fixture_t *fixture, int type, const char *secret)
{
    zsock_t *sock = zsock_new(type);
    if (type == ZMQ_SUB) {
        zsock_set_subscribe(sock, "");
    }
    assert_int_equal(bus_keys_client_apply(sock, secret, fixture->server_public), BUS_KEYS_OK);
    return sock;
}

//  ---------------------------------------------------------------------
//  A monitor reporting `event` on `sock`, started. Destroy it before the
//  socket.

static zactor_t *
s_monitor_new(zsock_t *sock, const char *event)
{
    zactor_t *monitor = zactor_new(zmonitor, sock);
    zstr_sendx(monitor, "LISTEN", event, NULL);
    zstr_sendx(monitor, "START", NULL);
    zsock_wait(monitor);
    return monitor;
}

//  ---------------------------------------------------------------------
//  Whether `monitor` reports `event` within the deadline.

static bool
s_event_seen(zactor_t *monitor, const char *event)
{
    zpoller_t *poller = zpoller_new(monitor, NULL);
    bool seen = false;
    int64_t deadline = zclock_mono() + S_DEADLINE_MS;
    while (!seen && zclock_mono() < deadline) {
        if (zpoller_wait(poller, (int) (deadline - zclock_mono())) != monitor) {
            break;
        }
        zmsg_t *report = zmsg_recv(monitor);
        char *name = zmsg_popstr(report);
        seen = name && streq(name, event);
        zstr_free(&name);
        zmsg_destroy(&report);
    }
    zpoller_destroy(&poller);
    return seen;
}

//  ---------------------------------------------------------------------
//  Receive whatever `sock` holds now, without waiting; the number of
//  messages equal to `text` (any text when NULL).

static int
s_drain(zsock_t *sock, const char *text)
{
    int matches = 0;
    while (zsock_events(sock) & ZMQ_POLLIN) {
        char *received = zstr_recv(sock);
        if (received && (!text || streq(received, text))) {
            matches++;
        }
        zstr_free(&received);
    }
    return matches;
}

//  ---------------------------------------------------------------------
//  ts_wait_until condition: publish the text once, then check whether the
//  subscriber has it. Publishing again on each call defeats the slow
//  joiner (PUB drops what it sends before the subscription arrives).

static bool
s_publish_and_check(void *arg)
{
    delivery_t *delivery = arg;
    zstr_send(delivery->publisher, delivery->text);
    return s_drain(delivery->subscriber, delivery->text) > 0;
}

static bool
s_publish_until_received(zsock_t *publisher, zsock_t *subscriber, const char *text)
{
    delivery_t delivery = {publisher, subscriber, text};
    return ts_wait_until(s_publish_and_check, &delivery, S_DEADLINE_MS);
}

//  ---------------------------------------------------------------------
//  Usage: a CURVE PUB with the allow-list, and an allowed SUB receiving.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(bus_auth_allowed_at_start(fixture->auth), 1);
    int port;
    zsock_t *pub = s_server_new(fixture, ZMQ_PUB, &port);
    assert_int_equal(zsock_curve_server(pub), 1);
    zsock_t *sub = s_client_new(fixture, ZMQ_SUB, fixture->a_secret);
    assert_int_equal(zsock_connect(sub, "tcp://127.0.0.1:%d", port), 0);

    assert_true(s_publish_until_received(pub, sub, "order.created 1"));

    zsock_destroy(&sub);
    zsock_destroy(&pub);
}

//  ---------------------------------------------------------------------
//  A SUB whose key is not allowed is refused at the handshake and gets
//  nothing, while an allowed SUB connected at the same time does.

static void
test_unknown_subscriber_refused(void **state)
{
    fixture_t *fixture = *state;
    int port;
    zsock_t *pub = s_server_new(fixture, ZMQ_PUB, &port);
    zsock_t *sub_a = s_client_new(fixture, ZMQ_SUB, fixture->a_secret);
    zsock_t *sub_b = s_client_new(fixture, ZMQ_SUB, fixture->b_secret);
    zactor_t *monitor_b = s_monitor_new(sub_b, "HANDSHAKE_FAILED_AUTH");
    assert_int_equal(zsock_connect(sub_a, "tcp://127.0.0.1:%d", port), 0);
    assert_int_equal(zsock_connect(sub_b, "tcp://127.0.0.1:%d", port), 0);

    //  The server told B that its key was refused.
    assert_true(s_event_seen(monitor_b, "HANDSHAKE_FAILED_AUTH"));
    //  A receives what is published after that; B has received nothing.
    assert_true(s_publish_until_received(pub, sub_a, "after refusal"));
    assert_true(s_publish_until_received(pub, sub_a, "fence"));
    assert_int_equal(s_drain(sub_b, NULL), 0);

    zactor_destroy(&monitor_b);
    zsock_destroy(&sub_b);
    zsock_destroy(&sub_a);
    zsock_destroy(&pub);
}

//  ---------------------------------------------------------------------
//  A ROUTER serves an allowed DEALER; an unknown DEALER's request never
//  reaches it.

static void
test_unknown_dealer_refused(void **state)
{
    fixture_t *fixture = *state;
    int port;
    zsock_t *router = s_server_new(fixture, ZMQ_ROUTER, &port);
    zactor_t *monitor = s_monitor_new(router, "HANDSHAKE_FAILED_AUTH");
    zsock_t *dealer_b = s_client_new(fixture, ZMQ_DEALER, fixture->b_secret);
    zsock_set_sndtimeo(dealer_b, 0);
    assert_int_equal(zsock_connect(dealer_b, "tcp://127.0.0.1:%d", port), 0);
    //  Queued in B's pipe at once; it could leave only after a handshake.
    assert_int_equal(zstr_send(dealer_b, "request from b"), 0);
    assert_true(s_event_seen(monitor, "HANDSHAKE_FAILED_AUTH"));

    zsock_t *dealer_a = s_client_new(fixture, ZMQ_DEALER, fixture->a_secret);
    assert_int_equal(zsock_connect(dealer_a, "tcp://127.0.0.1:%d", port), 0);
    assert_int_equal(zstr_send(dealer_a, "request from a"), 0);
    zsock_set_rcvtimeo(router, S_DEADLINE_MS);
    zsock_set_rcvtimeo(dealer_a, S_DEADLINE_MS);
    zframe_t *identity = NULL;
    char *request = NULL;
    assert_int_equal(zsock_recv(router, "fs", &identity, &request), 0);
    assert_string_equal(request, "request from a");
    assert_int_equal(zsock_send(router, "fs", identity, "reply to a"), 0);
    char *reply = zstr_recv(dealer_a);
    assert_non_null(reply);
    assert_string_equal(reply, "reply to a");
    //  The router holds nothing else: B's request did not get through.
    assert_int_equal(s_drain(router, NULL), 0);

    zstr_free(&reply);
    zstr_free(&request);
    zframe_destroy(&identity);
    zsock_destroy(&dealer_a);
    zsock_destroy(&dealer_b);
    zactor_destroy(&monitor);
    zsock_destroy(&router);
}

//  ---------------------------------------------------------------------
//  zauth re-reads the allow directory at the next handshake: B, refused,
//  gets in when it connects again after its certificate is added.

static void
test_allow_list_reloaded(void **state)
{
    fixture_t *fixture = *state;
    int port;
    zsock_t *pub = s_server_new(fixture, ZMQ_PUB, &port);
    zsock_t *sub_b = s_client_new(fixture, ZMQ_SUB, fixture->b_secret);
    zactor_t *monitor_b = s_monitor_new(sub_b, "HANDSHAKE_FAILED_AUTH");
    assert_int_equal(zsock_connect(sub_b, "tcp://127.0.0.1:%d", port), 0);
    assert_true(s_event_seen(monitor_b, "HANDSHAKE_FAILED_AUTH"));

    //  libzmq treats the refusal as a protocol error and never retries that
    //  endpoint by itself, and a second connect to a known endpoint is a
    //  no-op: the client disconnects and connects again.
    s_allow(fixture->b_public, fixture->allow_dir, "b");
    assert_int_equal(zsock_disconnect(sub_b, "tcp://127.0.0.1:%d", port), 0);
    assert_int_equal(zsock_connect(sub_b, "tcp://127.0.0.1:%d", port), 0);
    assert_true(s_publish_until_received(pub, sub_b, "welcome b"));

    zactor_destroy(&monitor_b);
    zsock_destroy(&sub_b);
    zsock_destroy(&pub);
}

//  ---------------------------------------------------------------------
//  Write `size` bytes of `text` repeated to dir/name; return the path.

static char *
s_write_file(const char *dir, const char *name, const char *text, size_t size)
{
    char *path = zsys_sprintf("%s/%s", dir, name);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    for (size_t written = 0; written < size; written++) {
        assert_true(fputc(text[written % strlen(text)], file) != EOF);
    }
    assert_int_equal(fclose(file), 0);
    return path;
}

//  ---------------------------------------------------------------------
//  Missing, wrong and broken key files give a reason and leave the socket
//  as it was.

static void
test_bad_key_files(void **state)
{
    fixture_t *fixture = *state;
    char *missing = zsys_sprintf("%s/missing_secret", fixture->dir);
    char *garbage = s_write_file(fixture->dir, "garbage_secret", "not a certificate\n", 18);
    char *huge = s_write_file(fixture->dir, "huge_secret", "#", BUS_KEYS_FILE_MAX + 1);
    //  The server's public key with A's secret key.
    zcert_t *server = zcert_load(fixture->server_public);
    zcert_t *a = zcert_load(fixture->a_secret);
    zcert_t *mixed = zcert_new_from(zcert_public_key(server), zcert_secret_key(a));
    char *mixed_path = zsys_sprintf("%s/mixed_secret", fixture->dir);
    assert_int_equal(zcert_save_secret(mixed, mixed_path), 0);

    zsock_t *sock = zsock_new(ZMQ_PUB);
    char *server_key_before = zsock_curve_serverkey(sock);
    assert_int_equal(bus_keys_server_apply(sock, missing), BUS_KEYS_NOT_FOUND);
    assert_int_equal(bus_keys_server_apply(sock, fixture->server_public), BUS_KEYS_NO_SECRET);
    assert_int_equal(bus_keys_server_apply(sock, garbage), BUS_KEYS_MALFORMED);
    assert_int_equal(bus_keys_server_apply(sock, huge), BUS_KEYS_UNREADABLE);
    assert_int_equal(bus_keys_server_apply(sock, fixture->dir), BUS_KEYS_UNREADABLE);
    assert_int_equal(bus_keys_server_apply(sock, mixed_path), BUS_KEYS_MISMATCH);
    assert_int_equal(zsock_curve_server(sock), 0);
    assert_int_equal(bus_keys_client_apply(sock, fixture->a_public, fixture->server_public),
                     BUS_KEYS_NO_SECRET);
    assert_int_equal(bus_keys_client_apply(sock, fixture->a_secret, missing), BUS_KEYS_NOT_FOUND);
    char *server_key = zsock_curve_serverkey(sock);
    assert_string_equal(server_key, server_key_before);
    zstr_free(&server_key);
    zstr_free(&server_key_before);
    //  Each reason reads as a sentence of its own.
    for (int rc = BUS_KEYS_NO_CURVE; rc <= BUS_KEYS_AUTH_RUNNING; rc++) {
        assert_true(strlen(bus_keys_strerror((bus_keys_rc_t) rc)) > 10);
        assert_string_not_equal(bus_keys_strerror((bus_keys_rc_t) rc),
                                bus_keys_strerror((bus_keys_rc_t) (rc - 1)));
    }

    zsock_destroy(&sock);
    zstr_free(&mixed_path);
    zcert_destroy(&mixed);
    zcert_destroy(&a);
    zcert_destroy(&server);
    zstr_free(&huge);
    zstr_free(&garbage);
    zstr_free(&missing);
}

//  ---------------------------------------------------------------------
//  bus_auth refuses what zauth cannot handle, and a server without it.

static void
test_auth_guards(void **state)
{
    fixture_t *fixture = *state;
    bus_keys_rc_t reason = BUS_KEYS_OK;
    char *missing = zsys_sprintf("%s/no-such-dir", fixture->dir);
    assert_null(bus_auth_new(missing, &reason));
    assert_int_equal(reason, BUS_KEYS_NOT_FOUND);
    assert_null(bus_auth_new(fixture->a_public, &reason));
    assert_int_equal(reason, BUS_KEYS_UNREADABLE);
    //  One ZAP handler per process: zauth itself would abort on a second.
    assert_null(bus_auth_new(fixture->allow_dir, &reason));
    assert_int_equal(reason, BUS_KEYS_AUTH_RUNNING);

    //  Without a handler a CURVE server would admit anyone: refused.
    bus_auth_destroy(&fixture->auth);
    zsock_t *sock = zsock_new(ZMQ_PUB);
    assert_int_equal(bus_keys_server_apply(sock, fixture->server_secret), BUS_KEYS_NO_AUTH);
    zsock_destroy(&sock);

    //  Two files with one key would make zcertstore assert.
    s_allow(fixture->a_public, fixture->allow_dir, "a.copy");
    assert_null(bus_auth_new(fixture->allow_dir, &reason));
    assert_int_equal(reason, BUS_KEYS_DUPLICATE);

    //  Metadata beyond zauth's fixed buffer would overrun it.
    char *crowded_dir = zsys_sprintf("%s/crowded", fixture->dir);
    assert_int_equal(mkdir(crowded_dir, 0700), 0);
    zcert_t *crowded = zcert_new();
    char note[BUS_KEYS_METADATA_MAX];
    memset(note, 'x', sizeof note - 1);
    note[sizeof note - 1] = '\0';
    zcert_set_meta(crowded, "note", "%s", note);
    char *crowded_path = zsys_sprintf("%s/crowded", crowded_dir);
    assert_int_equal(zcert_save_public(crowded, crowded_path), 0);
    assert_null(bus_auth_new(crowded_dir, &reason));
    assert_int_equal(reason, BUS_KEYS_METADATA_TOO_LARGE);

    zstr_free(&crowded_path);
    zcert_destroy(&crowded);
    zstr_free(&crowded_dir);
    zstr_free(&missing);
}

//  ---------------------------------------------------------------------
//  Run evbus-keygen with `args` (NULL-terminated, without argv[0]). Returns
//  its exit status (-1 if it did not exit) and its stdout in *output
//  (caller owns it).

static int
s_run_keygen(const char *const *args, char **output)
{
    char *argv[8] = {EVBUS_KEYGEN_PATH};
    for (int index = 0; args[index]; index++) {
        assert_true(index + 1 < 7);
        argv[index + 1] = (char *) args[index];
    }
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    *output = zmalloc(S_OUTPUT_MAX + 1);
    size_t size = 0;
    ssize_t got;
    while (size < S_OUTPUT_MAX && (got = read(out[0], *output + size, S_OUTPUT_MAX - size)) > 0) {
        size += (size_t) got;
    }
    close(out[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

//  ---------------------------------------------------------------------
//  The permission bits of the file at dir/name.

static int
s_mode(const char *dir, const char *name)
{
    char *path = zsys_sprintf("%s/%s", dir, name);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    zstr_free(&path);
    return (int) (info.st_mode & 0777);
}

//  ---------------------------------------------------------------------
//  The Z85 public key in dir/name.

static char *
s_public_key(const char *dir, const char *name)
{
    char *path = zsys_sprintf("%s/%s", dir, name);
    zcert_t *cert = zcert_load(path);
    assert_non_null(cert);
    char *key = strdup(zcert_public_txt(cert));
    zcert_destroy(&cert);
    zstr_free(&path);
    return key;
}

//  ---------------------------------------------------------------------
//  evbus-keygen writes a pair our functions load, keeps the secret
//  private, and replaces nothing without --force.

static void
test_keygen_tool(void **state)
{
    fixture_t *fixture = *state;
    char *keys = zsys_sprintf("%s/keys", fixture->dir);
    assert_int_equal(mkdir(keys, 0700), 0);
    char *output = NULL;
    assert_int_equal(s_run_keygen((const char *[]){"order-0", "--dir", keys, NULL}, &output), 0);
    char *key = s_public_key(keys, "order-0");
    char *expected = zsys_sprintf("public-key: %s\npublic: %s/order-0\nsecret: %s/order-0_secret\n",
                                  key, keys, keys);
    assert_string_equal(output, expected);
    zstr_free(&output);
    assert_int_equal(s_mode(keys, "order-0_secret"), 0600);
    assert_int_equal(s_mode(keys, "order-0"), 0644);
    char *secret_path = zsys_sprintf("%s/order-0_secret", keys);
    zcert_t *cert = zcert_load(secret_path);
    assert_non_null(cert);
    assert_string_equal(zcert_meta(cert, "name"), "order-0");
    assert_non_null(zcert_meta(cert, "created-by"));
    zcert_destroy(&cert);

    //  Our functions accept the pair, and zauth its public half.
    zsock_t *sock = zsock_new(ZMQ_ROUTER);
    assert_int_equal(bus_keys_server_apply(sock, secret_path), BUS_KEYS_OK);
    zsock_destroy(&sock);
    bus_auth_destroy(&fixture->auth);
    bus_keys_rc_t reason;
    fixture->auth = bus_auth_new(keys, &reason);
    assert_non_null(fixture->auth);
    assert_int_equal(bus_auth_allowed_at_start(fixture->auth), 1);

    //  No silent replacement; --force replaces.
    assert_int_equal(s_run_keygen((const char *[]){"order-0", "--dir", keys, NULL}, &output), 1);
    zstr_free(&output);
    char *unchanged = s_public_key(keys, "order-0");
    assert_string_equal(unchanged, key);
    assert_int_equal(
        s_run_keygen((const char *[]){"order-0", "--dir", keys, "--force", NULL}, &output), 0);
    zstr_free(&output);
    char *replaced = s_public_key(keys, "order-0");
    assert_string_not_equal(replaced, key);
    assert_int_equal(s_mode(keys, "order-0_secret"), 0600);

    //  Usage errors and help.
    assert_int_equal(s_run_keygen((const char *[]){NULL}, &output), 2);
    zstr_free(&output);
    assert_int_equal(s_run_keygen((const char *[]){"x_secret", "--dir", keys, NULL}, &output), 2);
    zstr_free(&output);
    assert_int_equal(s_run_keygen((const char *[]){"--help", NULL}, &output), 0);
    assert_non_null(strstr(output, "Usage: evbus-keygen NAME"));
    zstr_free(&output);

    zstr_free(&replaced);
    zstr_free(&unchanged);
    zstr_free(&secret_path);
    zstr_free(&expected);
    zstr_free(&key);
    zstr_free(&keys);
}

int
main(void)
{
    zsys_set_logstream(stderr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_subscriber_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_dealer_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_allow_list_reloaded, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_key_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_auth_guards, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keygen_tool, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
