/*  =========================================================================
    svc_http_test - the HTTP server over real sockets on 127.0.0.1

    Each test runs the server the way a service does: inside a zactor whose
    one loop is a zloop, with the server attached to it. The actor answers
    a few commands on its pipe (PORT, READY, HELD, CALLS, RELEASE), which is
    how the tests read its state and make it answer held requests without
    racing. Requests go through libcurl (ts_http_request); a request that
    the server holds is sent from a second thread.
    =========================================================================
*/
#include "svc_classes.h"
#include "ts.h"

#include <pthread.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define REQUEST_TIMEOUT_MS 5000
#define WAIT_TIMEOUT_MS 5000
#define HELD_MAX 4
#define SMALL_BODY_MAX 1024
#define URL_MAX 256
#define RESUME_LATENCY_MAX_MS 500

//  What one test shares with its server actor.
typedef struct {
    FILE *log_stream;       //  the log's stream (a temporary file)
    svc_log_t *log;         //  logger lent to the server
    svc_metrics_t *metrics; //  registry lent to the server
    size_t body_max;        //  body limit for the server, 0 for the default
    zactor_t *server;       //  the server actor
    int port;               //  its port
} fixture_t;

//  The server actor's state.
typedef struct {
    svc_http_t *http;                   //  the server under test
    svc_http_request_t *held[HELD_MAX]; //  requests kept by /hold
    size_t held_count;                  //  entries used in held
    int calls;                          //  times /echo reached its handler
} server_t;

//  A request sent from a second thread.
typedef struct {
    char url[URL_MAX];     //  where to send it
    ts_http_reply_t reply; //  what came back
    int rc;                //  ts_http_request's result
} client_t;

//  ---------------------------------------------------------------------
//  Route handlers of the test server.

static void
s_handle_order(svc_http_request_t *request, void *arg)
{
    (void) arg;
    const char *verbose = svc_http_request_query(request, "verbose");
    const char *test_header = svc_http_request_header(request, "x-test");
    json_t *body =
        json_pack("{s:s, s:s?, s:s?, s:s}", "id", svc_http_request_param(request, "id"), "verbose",
                  verbose, "header", test_header, "path", svc_http_request_path(request));
    svc_http_respond_json(request, 200, &body);
}

static void
s_handle_page(svc_http_request_t *request, void *arg)
{
    (void) arg;
    int64_t limit = 0;
    if (svc_http_request_query_int(request, "limit", 20, 1, 100, &limit) == 0) {
        json_t *body = json_pack("{s:I}", "limit", (json_int_t) limit);
        svc_http_respond_json(request, 200, &body);
    }
}

static void
s_handle_item(svc_http_request_t *request, void *arg)
{
    (void) arg;
    char location[URL_MAX];
    (void) snprintf(location, sizeof(location), "/orders/%s/items/%s",
                    svc_http_request_param(request, "id"), svc_http_request_param(request, "item"));
    svc_http_response_header(request, "Location", location);
    json_t *body = json_pack("{s:s, s:s}", "order", svc_http_request_param(request, "id"), "item",
                             svc_http_request_param(request, "item"));
    svc_http_respond_json(request, 201, &body);
}

static void
s_handle_echo(svc_http_request_t *request, void *arg)
{
    server_t *server = (server_t *) arg;
    server->calls++;
    json_t *body = svc_http_request_json(request);
    if (!body) {
        return;
    }
    svc_http_respond_json(request, 200, &body);
}

static void
s_handle_hold(svc_http_request_t *request, void *arg)
{
    server_t *server = (server_t *) arg;
    assert(server->held_count < HELD_MAX);
    server->held[server->held_count++] = request;
}

//  ---------------------------------------------------------------------
//  Answer every held request, from outside MHD's callbacks.

static void
s_server_release(server_t *server)
{
    for (size_t index = 0; index < server->held_count; index++) {
        svc_http_request_t *request = server->held[index];
        json_t *body =
            json_pack("{s:b, s:s}", "released", 1, "path", svc_http_request_path(request));
        svc_http_respond_json(request, 200, &body);
    }
    server->held_count = 0;
}

//  ---------------------------------------------------------------------
//  Pipe commands: PORT, READY <0|1> <reason>, HELD, CALLS, RELEASE, $TERM.

static int
s_server_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    server_t *server = (server_t *) arg;
    (void) loop;
    zmsg_t *msg = zmsg_recv(pipe);
    if (!msg) {
        return -1;
    }
    char *command = zmsg_popstr(msg);
    int rc = 0;
    if (streq(command, "$TERM")) {
        rc = -1;
    } else if (streq(command, "PORT")) {
        zstr_sendf(pipe, "%d", svc_http_port(server->http));
    } else if (streq(command, "READY")) {
        char *ready = zmsg_popstr(msg);
        char *reason = zmsg_popstr(msg);
        svc_http_set_ready(server->http, streq(ready, "1"), reason);
        zstr_free(&reason);
        zstr_free(&ready);
        zsock_signal(pipe, 0);
    } else if (streq(command, "HELD")) {
        zstr_sendf(pipe, "%zu", server->held_count);
    } else if (streq(command, "CALLS")) {
        zstr_sendf(pipe, "%d", server->calls);
    } else if (streq(command, "RELEASE")) {
        s_server_release(server);
        zsock_signal(pipe, 0);
    }
    zstr_free(&command);
    zmsg_destroy(&msg);
    return rc;
}

//  ---------------------------------------------------------------------
//  The server actor: svc_http in a zloop, as a service runs it.

static void
s_server_actor(zsock_t *pipe, void *args)
{
    fixture_t *fixture = (fixture_t *) args;
    server_t server = {NULL, {NULL}, 0, 0};
    //  This runs on the actor's thread, so plain asserts, not cmocka's.
    server.http = svc_http_new("127.0.0.1:0", fixture->log, fixture->metrics);
    assert(server.http);
    if (fixture->body_max) {
        svc_http_set_body_max(server.http, fixture->body_max);
    }
    svc_http_route(server.http, "GET", "/orders/{id}", s_handle_order, &server);
    svc_http_route(server.http, "POST", "/orders/{id}/items/{item}", s_handle_item, &server);
    svc_http_route(server.http, "POST", "/echo", s_handle_echo, &server);
    svc_http_route(server.http, "PUT", "/echo", s_handle_echo, &server);
    svc_http_route(server.http, "GET", "/hold", s_handle_hold, &server);
    svc_http_route(server.http, "GET", "/page", s_handle_page, &server);

    zloop_t *loop = zloop_new();
    int rc = zloop_reader(loop, pipe, s_server_on_pipe, &server);
    assert(rc == 0);
    rc = svc_http_attach(server.http, loop);
    assert(rc == 0);
    zsock_signal(pipe, 0);
    zloop_start(loop);

    svc_http_detach(server.http);
    svc_http_destroy(&server.http);
    zloop_destroy(&loop);
}

//  ---------------------------------------------------------------------
//  Fixture: a logger on a temporary file, a registry, the server actor.

static int
s_fixture_start(fixture_t *fixture)
{
    fixture->log_stream = tmpfile();
    assert_non_null(fixture->log_stream);
    fixture->log = svc_log_new("test", "test-0", SVC_LOG_DEBUG, fixture->log_stream);
    fixture->metrics = svc_metrics_new();
    fixture->server = zactor_new(s_server_actor, fixture);
    assert_non_null(fixture->server);
    zstr_send(fixture->server, "PORT");
    char *port = zstr_recv(fixture->server);
    fixture->port = atoi(port);
    zstr_free(&port);
    assert_true(fixture->port > 0);
    return 0;
}

static int
s_setup(void **state)
{
    fixture_t *fixture = (fixture_t *) zmalloc(sizeof(fixture_t));
    *state = fixture;
    return s_fixture_start(fixture);
}

static int
s_setup_small_body(void **state)
{
    fixture_t *fixture = (fixture_t *) zmalloc(sizeof(fixture_t));
    fixture->body_max = SMALL_BODY_MAX;
    *state = fixture;
    return s_fixture_start(fixture);
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zactor_destroy(&fixture->server);
    svc_metrics_destroy(&fixture->metrics);
    svc_log_destroy(&fixture->log);
    (void) fclose(fixture->log_stream);
    freen(fixture);
    return 0;
}

//  ---------------------------------------------------------------------
//  Helpers: a request to the fixture's server, and actor queries.

static void
s_request(fixture_t *fixture,
          const char *method,
          const char *path,
          const char *content_type,
          const char *body,
          ts_http_reply_t *reply)
{
    char url[URL_MAX];
    (void) snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fixture->port, path);
    char header[URL_MAX];
    (void) snprintf(header, sizeof(header), "Content-Type: %s", content_type ? content_type : "");
    const char *headers[] = {header, NULL};
    int rc = ts_http_request(method, url, content_type ? headers : NULL, body,
                             body ? strlen(body) : 0, REQUEST_TIMEOUT_MS, reply);
    assert_int_equal(rc, 0);
}

static int
s_server_ask(fixture_t *fixture, const char *command)
{
    zstr_send(fixture->server, command);
    char *answer = zstr_recv(fixture->server);
    assert_non_null(answer);
    int value = atoi(answer);
    zstr_free(&answer);
    return value;
}

static bool
s_one_request_held(void *arg)
{
    return s_server_ask((fixture_t *) arg, "HELD") == 1;
}

//  The whole log written so far.
static char *
s_log_text(fixture_t *fixture)
{
    (void) fflush(fixture->log_stream);
    long size = ftell(fixture->log_stream);
    assert_true(size >= 0);
    char *text = (char *) zmalloc((size_t) size + 1);
    rewind(fixture->log_stream);
    assert_int_equal(fread(text, 1, (size_t) size, fixture->log_stream), (size_t) size);
    return text;
}

static void *
s_client_run(void *arg)
{
    client_t *client = (client_t *) arg;
    client->rc =
        ts_http_request("GET", client->url, NULL, NULL, 0, REQUEST_TIMEOUT_MS, &client->reply);
    return NULL;
}

static void
s_client_start(fixture_t *fixture, client_t *client, pthread_t *thread, const char *path)
{
    memset(client, 0, sizeof(*client));
    (void) snprintf(client->url, sizeof(client->url), "http://127.0.0.1:%d%s", fixture->port, path);
    assert_int_equal(pthread_create(thread, NULL, s_client_run, client), 0);
}

//  ---------------------------------------------------------------------
//  Usage example: a service's server answers health checks and a JSON
//  route.

static void
test_usage_example(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    ts_http_reply_t reply;
    s_request(fixture, "GET", "/healthz", NULL, NULL, &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "{\"status\":\"ok\"}");
    assert_string_equal(reply.content_type, "application/json");
    ts_http_reply_free(&reply);

    s_request(fixture, "POST", "/echo", "application/json", "{\"sku\": \"A-1\", \"quantity\": 2}",
              &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "{\"sku\":\"A-1\",\"quantity\":2}");
    ts_http_reply_free(&reply);
}

//  ---------------------------------------------------------------------
//  Patterns capture {params}; queries are decoded; header names are
//  case-insensitive; handlers can add response headers.

static void
test_routing_with_params(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    char url[URL_MAX];
    (void) snprintf(url, sizeof(url), "http://127.0.0.1:%d/orders/42?verbose=yes%%20please&x=1",
                    fixture->port);
    const char *headers[] = {"X-Test: hello", NULL};
    ts_http_reply_t reply;
    assert_int_equal(ts_http_request("GET", url, headers, NULL, 0, REQUEST_TIMEOUT_MS, &reply), 0);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "{\"id\":\"42\",\"verbose\":\"yes please\","
                                    "\"header\":\"hello\",\"path\":\"/orders/42\"}");
    ts_http_reply_free(&reply);

    s_request(fixture, "POST", "/orders/7/items/ab-c", NULL, NULL, &reply);
    assert_int_equal(reply.status, 201);
    assert_string_equal(reply.body, "{\"order\":\"7\",\"item\":\"ab-c\"}");
    assert_string_equal(reply.location, "/orders/7/items/ab-c");
    ts_http_reply_free(&reply);

    //  A {param} never matches an empty segment or several segments.
    s_request(fixture, "GET", "/orders/", NULL, NULL, &reply);
    assert_int_equal(reply.status, 404);
    ts_http_reply_free(&reply);
    s_request(fixture, "GET", "/orders/1/2", NULL, NULL, &reply);
    assert_int_equal(reply.status, 404);
    ts_http_reply_free(&reply);
}

//  ---------------------------------------------------------------------
//  An integer query argument: absent means the fallback; anything but a
//  decimal integer in range is 400 invalid_value naming the argument.

static void
test_query_int(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    static const struct {
        const char *path;
        unsigned status;
        const char *body;
    } cases[] = {
        {"/page", 200, "{\"limit\":20}"},
        {"/page?limit=7", 200, "{\"limit\":7}"},
        {"/page?limit=100", 200, "{\"limit\":100}"},
        {"/page?limit=0", 400, NULL},
        {"/page?limit=101", 400, NULL},
        {"/page?limit=-1", 400, NULL},
        {"/page?limit=7x", 400, NULL},
        {"/page?limit=+7", 400, NULL},
        {"/page?limit=%207", 400, NULL},
        {"/page?limit=", 400, NULL},
        {"/page?limit=99999999999999999999", 400, NULL},
    };
    for (size_t index = 0; index < sizeof cases / sizeof *cases; index++) {
        ts_http_reply_t reply;
        s_request(fixture, "GET", cases[index].path, NULL, NULL, &reply);
        assert_int_equal(reply.status, cases[index].status);
        if (cases[index].body) {
            assert_string_equal(reply.body, cases[index].body);
        } else {
            assert_non_null(strstr(reply.body, "\"code\":\"invalid_value\""));
            assert_non_null(strstr(reply.body, "\"field\":\"limit\""));
        }
        ts_http_reply_free(&reply);
    }
}

//  ---------------------------------------------------------------------
//  Unknown paths get 404; a known path with another method gets 405
//  naming the allowed methods. Both with the JSON error body.

static void
test_not_found_and_method_not_allowed(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    ts_http_reply_t reply;
    s_request(fixture, "GET", "/nope", NULL, NULL, &reply);
    assert_int_equal(reply.status, 404);
    assert_string_equal(reply.content_type, "application/json");
    assert_string_equal(reply.body, "{\"error\":{\"status\":404,\"code\":\"not_found\","
                                    "\"field\":null,\"message\":\"no such resource\"}}");
    ts_http_reply_free(&reply);

    s_request(fixture, "DELETE", "/echo", NULL, NULL, &reply);
    assert_int_equal(reply.status, 405);
    assert_string_equal(reply.body, "{\"error\":{\"status\":405,\"code\":\"method_not_allowed\","
                                    "\"field\":null,\"message\":\"allowed: POST, PUT\"}}");
    ts_http_reply_free(&reply);
}

//  ---------------------------------------------------------------------
//  /healthz is always 200; /readyz follows svc_http_set_ready.

static void
test_health_and_readiness(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    ts_http_reply_t reply;
    s_request(fixture, "GET", "/readyz", NULL, NULL, &reply);
    assert_int_equal(reply.status, 503);
    assert_string_equal(reply.body, "{\"status\":\"not ready\",\"reason\":\"starting\"}");
    ts_http_reply_free(&reply);

    zstr_sendx(fixture->server, "READY", "1", "", NULL);
    zsock_wait(fixture->server);
    s_request(fixture, "GET", "/readyz", NULL, NULL, &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "{\"status\":\"ready\"}");
    ts_http_reply_free(&reply);

    zstr_sendx(fixture->server, "READY", "0", "database unreachable", NULL);
    zsock_wait(fixture->server);
    s_request(fixture, "GET", "/readyz", NULL, NULL, &reply);
    assert_int_equal(reply.status, 503);
    assert_string_equal(reply.body,
                        "{\"status\":\"not ready\",\"reason\":\"database unreachable\"}");
    ts_http_reply_free(&reply);

    s_request(fixture, "GET", "/healthz", NULL, NULL, &reply);
    assert_int_equal(reply.status, 200);
    ts_http_reply_free(&reply);
}

//  ---------------------------------------------------------------------
//  /metrics serves the registry, including the per-request series; each
//  request is logged at debug.

static void
test_metrics_and_request_log(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    ts_http_reply_t reply;
    for (int index = 0; index < 2; index++) {
        s_request(fixture, "GET", "/healthz", NULL, NULL, &reply);
        ts_http_reply_free(&reply);
    }
    s_request(fixture, "GET", "/missing", NULL, NULL, &reply);
    ts_http_reply_free(&reply);

    s_request(fixture, "GET", "/metrics", NULL, NULL, &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(reply.body, "# TYPE http_requests_total counter\n"));
    assert_non_null(strstr(
        reply.body, "http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2\n"));
    assert_non_null(strstr(
        reply.body, "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"));
    assert_non_null(
        strstr(reply.body, "http_request_duration_seconds_count{route=\"/healthz\"} 2\n"));
    ts_http_reply_free(&reply);

    char *log = s_log_text(fixture);
    assert_non_null(strstr(log, "\"event\":\"http.request\""));
    assert_non_null(strstr(log, "\"path\":\"/missing\""));
    assert_non_null(strstr(log, "\"status\":404"));
    assert_non_null(strstr(log, "\"duration_us\":"));
    freen(log);
}

//  ---------------------------------------------------------------------
//  A body over the limit gets 413 and never reaches the handler; one of
//  exactly the limit does.

static void
test_body_limit(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    char body[SMALL_BODY_MAX + 2];
    memset(body, ' ', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    memcpy(body, "{\"pad\":\"", 8);
    body[SMALL_BODY_MAX - 2] = '"';
    body[SMALL_BODY_MAX - 1] = '}';

    ts_http_reply_t reply;
    s_request(fixture, "POST", "/echo", "application/json", body, &reply);
    assert_int_equal(reply.status, 413);
    assert_string_equal(reply.body, "{\"error\":{\"status\":413,\"code\":\"body_too_large\","
                                    "\"field\":null,\"message\":\"request body too large\"}}");
    ts_http_reply_free(&reply);
    assert_int_equal(s_server_ask(fixture, "CALLS"), 0);

    body[SMALL_BODY_MAX] = '\0';
    s_request(fixture, "POST", "/echo", "application/json", body, &reply);
    assert_int_equal(reply.status, 200);
    ts_http_reply_free(&reply);
    assert_int_equal(s_server_ask(fixture, "CALLS"), 1);
}

//  ---------------------------------------------------------------------
//  A chunked body declares no length: once it grows past the limit the
//  server closes the connection (MHD cannot answer in mid-upload), and
//  the handler is never called.

static void
test_body_limit_chunked(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    char body[2 * SMALL_BODY_MAX + 1];
    memset(body, ' ', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    char url[URL_MAX];
    (void) snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", fixture->port);
    const char *headers[] = {"Content-Type: application/json", "Transfer-Encoding: chunked", NULL};
    ts_http_reply_t reply;
    ts_http_request("POST", url, headers, body, strlen(body), REQUEST_TIMEOUT_MS, &reply);
    assert_int_equal(reply.status, 0);
    ts_http_reply_free(&reply);
    assert_int_equal(s_server_ask(fixture, "CALLS"), 0);

    //  The server goes on serving, and counted the refusal as a 413.
    s_request(fixture, "GET", "/metrics", NULL, NULL, &reply);
    assert_int_equal(reply.status, 200);
    assert_non_null(strstr(
        reply.body, "http_requests_total{route=\"/echo\",method=\"POST\",status=\"413\"} 1\n"));
    ts_http_reply_free(&reply);
}

//  ---------------------------------------------------------------------
//  The default limit holds too, for a body of SVC_HTTP_BODY_MAX_DEFAULT+1.

static void
test_body_limit_default(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    size_t size = SVC_HTTP_BODY_MAX_DEFAULT + 1;
    char *body = (char *) zmalloc(size + 1);
    memset(body, 'x', size);
    ts_http_reply_t reply;
    s_request(fixture, "POST", "/echo", "application/json", body, &reply);
    assert_int_equal(reply.status, 413);
    ts_http_reply_free(&reply);
    assert_int_equal(s_server_ask(fixture, "CALLS"), 0);
    freen(body);
}

//  ---------------------------------------------------------------------
//  JSON bodies need the JSON content type (parameters allowed).

static void
test_wrong_content_type(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    ts_http_reply_t reply;
    s_request(fixture, "POST", "/echo", "text/plain", "{}", &reply);
    assert_int_equal(reply.status, 415);
    assert_string_equal(reply.body,
                        "{\"error\":{\"status\":415,\"code\":\"unsupported_media_type\","
                        "\"field\":null,\"message\":\"Content-Type must be application/json\"}}");
    ts_http_reply_free(&reply);

    s_request(fixture, "POST", "/echo", "application/jsonx", "{}", &reply);
    assert_int_equal(reply.status, 415);
    ts_http_reply_free(&reply);

    s_request(fixture, "POST", "/echo", "Application/JSON; charset=utf-8", "{\"a\":1}", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "{\"a\":1}");
    ts_http_reply_free(&reply);
}

//  ---------------------------------------------------------------------
//  Malformed JSON is a 400 that says where; valid JSON that is not an
//  object is a 400 too.

static void
test_malformed_json(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    ts_http_reply_t reply;
    s_request(fixture, "POST", "/echo", "application/json", "{\"a\":\n  }", &reply);
    assert_int_equal(reply.status, 400);
    assert_string_equal(reply.body,
                        "{\"error\":{\"status\":400,\"code\":\"malformed_json\",\"field\":null,"
                        "\"message\":\"invalid JSON at line 2, column 3: "
                        "unexpected token near '}'\"}}");
    ts_http_reply_free(&reply);

    //  Any JSON value that is not an object, scalars included.
    const char *not_objects[] = {"[1, 2]", "\"text\"", "42", "null", "true"};
    for (size_t index = 0; index < sizeof not_objects / sizeof *not_objects; index++) {
        s_request(fixture, "POST", "/echo", "application/json", not_objects[index], &reply);
        assert_int_equal(reply.status, 400);
        assert_string_equal(reply.body,
                            "{\"error\":{\"status\":400,\"code\":\"invalid_body\","
                            "\"field\":null,\"message\":\"body must be a JSON object\"}}");
        ts_http_reply_free(&reply);
    }
}

//  ---------------------------------------------------------------------
//  A handler can keep a request and answer later; meanwhile the server
//  goes on serving other requests.

static void
test_deferred_response(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    client_t client;
    pthread_t thread;
    s_client_start(fixture, &client, &thread, "/hold");
    assert_true(ts_wait_until(s_one_request_held, fixture, WAIT_TIMEOUT_MS));

    ts_http_reply_t reply;
    s_request(fixture, "GET", "/healthz", NULL, NULL, &reply);
    assert_int_equal(reply.status, 200);
    ts_http_reply_free(&reply);
    s_request(fixture, "GET", "/orders/9", NULL, NULL, &reply);
    assert_int_equal(reply.status, 200);
    ts_http_reply_free(&reply);
    assert_int_equal(s_server_ask(fixture, "HELD"), 1);

    //  The answer must not wait for the server's fallback timer (1 s):
    //  resuming has to make the loop run MHD at once.
    int64_t released_ms = zclock_mono();
    zstr_send(fixture->server, "RELEASE");
    zsock_wait(fixture->server);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_true(zclock_mono() - released_ms < RESUME_LATENCY_MAX_MS);
    assert_int_equal(client.rc, 0);
    assert_int_equal(client.reply.status, 200);
    assert_string_equal(client.reply.body, "{\"released\":true,\"path\":\"/hold\"}");
    ts_http_reply_free(&client.reply);
}

//  ---------------------------------------------------------------------
//  Destroying the server answers a held request 503 and frees it (ASan
//  reports a leak otherwise).

static void
test_destroy_with_held_request(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    client_t client;
    pthread_t thread;
    s_client_start(fixture, &client, &thread, "/hold");
    assert_true(ts_wait_until(s_one_request_held, fixture, WAIT_TIMEOUT_MS));

    zactor_destroy(&fixture->server);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(client.rc, 0);
    assert_int_equal(client.reply.status, 503);
    assert_string_equal(client.reply.body,
                        "{\"error\":{\"status\":503,\"code\":\"unavailable\",\"field\":null,"
                        "\"message\":\"server is shutting down\"}}");
    ts_http_reply_free(&client.reply);
}

//  ---------------------------------------------------------------------
//  An address that is invalid or taken gives NULL and an error log line.

static void
test_bind_failure(void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    char address[64];
    (void) snprintf(address, sizeof(address), "127.0.0.1:%d", fixture->port);
    assert_null(svc_http_new(address, fixture->log, fixture->metrics));
    assert_null(svc_http_new("nowhere", fixture->log, fixture->metrics));
    assert_null(svc_http_new("127.0.0.1:65536", fixture->log, fixture->metrics));

    char *log = s_log_text(fixture);
    const char *first = strstr(log, "\"event\":\"http.bind.failed\"");
    assert_non_null(first);
    assert_non_null(strstr(log, "\"level\":\"error\""));
    assert_non_null(strstr(first + 1, "\"address\":\"nowhere\""));
    freen(log);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage_example, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_routing_with_params, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_query_int, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_method_not_allowed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_health_and_readiness, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_and_request_log, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, s_setup_small_body, s_teardown),
        cmocka_unit_test_setup_teardown(test_body_limit_chunked, s_setup_small_body, s_teardown),
        cmocka_unit_test_setup_teardown(test_body_limit_default, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_content_type, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_json, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deferred_response, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_held_request, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bind_failure, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
