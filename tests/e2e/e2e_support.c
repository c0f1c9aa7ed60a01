/*  =========================================================================
    e2e_support - the three services as real processes, and a client

    The executables come from the build (E2E_ORDER_SERVICE and friends,
    $<TARGET_FILE:...> in CMakeLists.txt). Ports are fixed before each
    start because a service's ephemeral port cannot be read from outside
    its process, and they stay the same across restarts because the other
    services' PUBLISHERS name them.
    =========================================================================
*/
#include <czmq.h>
#include <sys/stat.h>
#include <curl/curl.h>

#undef NDEBUG
#include <assert.h>

#include "e2e_support.h"
#include "ts.h"

//  Exit code of a service that could not bind an address (svc.h).
#define E2E_EXIT_BIND 3
//  Full starts of the system before giving up on finding free ports.
#define E2E_START_TRIES 3
//  Largest answer body kept.
#define E2E_BODY_MAX ((size_t) 8 * 1024 * 1024)

static const char *s_names[E2E_SERVICES] = {"order", "inventory", "billing"};
static const char *s_paths[E2E_SERVICES] = {E2E_ORDER_SERVICE, E2E_INVENTORY_SERVICE,
                                            E2E_BILLING_SERVICE};

//  ---------------------------------------------------------------------
//  Make `path` an empty directory (a previous run's logs are removed).

static void
s_fresh_dir(const char *path)
{
    struct stat info;
    if (stat(path, &info) == 0) {
        char *old = strdup(path);
        ts_tmpdir_remove(&old);
    }
    char *partial = strdup(path);
    for (char *slash = strchr(partial + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        (void) mkdir(partial, 0700);
        *slash = '/';
    }
    freen(partial);
    if (mkdir(path, 0700) != 0) {
        (void) fprintf(stderr, "e2e: cannot create %s: %s\n", path, strerror(errno));
        abort();
    }
}

//  ---------------------------------------------------------------------
//  Draw HTTP ports and PUB port pairs for all services, all distinct.

static void
s_pick_ports(e2e_system_t *self)
{
    int used[E2E_SERVICES * 3];
    size_t count = 0;
    for (int which = 0; which < E2E_SERVICES; which++) {
        e2e_service_t *service = &self->services[which];
        for (bool clash = true; clash;) {
            service->http_port = ts_proc_port_new(1);
            service->pub_port = ts_proc_port_new(2);
            clash = service->http_port == service->pub_port ||
                    service->http_port == service->pub_port + 1;
            for (size_t index = 0; index < count && !clash; index++) {
                clash = used[index] == service->http_port || used[index] == service->pub_port ||
                        used[index] == service->pub_port + 1;
            }
        }
        used[count++] = service->http_port;
        used[count++] = service->pub_port;
        used[count++] = service->pub_port + 1;
    }
}

//  ---------------------------------------------------------------------
//  "tcp://127.0.0.1:<pub>" of the publishers `which` subscribes to.

static char *
s_publishers(const e2e_system_t *self, e2e_which_t which)
{
    if (which == E2E_ORDER) {
        return zsys_sprintf("tcp://127.0.0.1:%d,tcp://127.0.0.1:%d",
                            self->services[E2E_INVENTORY].pub_port,
                            self->services[E2E_BILLING].pub_port);
    }
    return zsys_sprintf("tcp://127.0.0.1:%d", self->services[E2E_ORDER].pub_port);
}

//  ---------------------------------------------------------------------
//  (Re)write a service's standard options for its current ports.

static void
s_configure(e2e_system_t *self, e2e_which_t which)
{
    e2e_service_t *service = &self->services[which];
    char *http_addr = zsys_sprintf("127.0.0.1:%d", service->http_port);
    char *pub = zsys_sprintf("tcp://127.0.0.1:%d", service->pub_port);
    char *publishers = s_publishers(self, which);
    ts_proc_setenv(service->proc, "HTTP_ADDR", http_addr);
    ts_proc_setenv(service->proc, "PUB_ENDPOINT", pub);
    ts_proc_setenv(service->proc, "PUBLISHERS", publishers);
    zstr_free(&service->base_url);
    service->base_url = zsys_sprintf("http://%s", http_addr);
    zstr_free(&publishers);
    zstr_free(&pub);
    zstr_free(&http_addr);
}

//  ---------------------------------------------------------------------
//  Create a service's database, its connection and its process.

static void
s_service_init(e2e_system_t *self, e2e_which_t which, const char *const *extra_env)
{
    e2e_service_t *service = &self->services[which];
    service->name = s_names[which];
    service->stream = zsys_sprintf("%s-0", service->name);
    service->db = ts_pg_create_db();
    service->conn = PQconnectdb(service->db);
    if (PQstatus(service->conn) != CONNECTION_OK) {
        (void) fprintf(stderr, "e2e: cannot connect to %s: %s", service->db,
                       PQerrorMessage(service->conn));
        abort();
    }
    char *log_path = zsys_sprintf("%s/%s.log", self->log_dir, service->name);
    service->proc = ts_proc_new(s_paths[which], NULL, extra_env, log_path);
    zstr_free(&log_path);
    ts_proc_setenv(service->proc, "DATABASE_URL", service->db);
    ts_proc_setenv(service->proc, "STREAM", service->stream);
    ts_proc_setenv(service->proc, "REPLICA_INDEX", "0");
    ts_proc_setenv(service->proc, "REPLICA_COUNT", "1");
}

//  ---------------------------------------------------------------------

static int
s_wait_ready(e2e_system_t *self, e2e_which_t which)
{
    char *url = e2e_url(self, which, "/readyz");
    int rc = ts_proc_wait_ready(self->services[which].proc, url, E2E_READY_MS);
    zstr_free(&url);
    return rc;
}

//  ---------------------------------------------------------------------
//  Start all three on fresh ports; true when all are ready. *bind_failed
//  says whether a failure was a port taken by someone else.

static bool
s_start_all(e2e_system_t *self, bool *bind_failed)
{
    s_pick_ports(self);
    for (int which = 0; which < E2E_SERVICES; which++) {
        s_configure(self, (e2e_which_t) which);
        ts_proc_start(self->services[which].proc);
    }
    bool ready = true;
    *bind_failed = false;
    for (int which = 0; which < E2E_SERVICES; which++) {
        if (s_wait_ready(self, (e2e_which_t) which) != 0) {
            ready = false;
            ts_proc_t *proc = self->services[which].proc;
            *bind_failed |= !ts_proc_running(proc) && ts_proc_exit_code(proc) == E2E_EXIT_BIND;
        }
    }
    return ready;
}

//  ---------------------------------------------------------------------

e2e_system_t *
e2e_system_new(const char *log_dir, const char *const *extra_env)
{
    assert(log_dir);
    e2e_system_t *self = (e2e_system_t *) zmalloc(sizeof *self);
    self->log_dir = strdup(log_dir);
    s_fresh_dir(self->log_dir);
    (void) fprintf(stderr, "e2e: service logs in %s\n", self->log_dir);
    for (int which = 0; which < E2E_SERVICES; which++) {
        s_service_init(self, (e2e_which_t) which, extra_env);
    }
    bool bind_failed = true;
    for (int tries = 0; tries < E2E_START_TRIES && bind_failed; tries++) {
        if (s_start_all(self, &bind_failed)) {
            return self;
        }
        for (int which = 0; which < E2E_SERVICES; which++) {
            (void) ts_proc_kill(self->services[which].proc);
        }
    }
    (void) fprintf(stderr, "e2e: the services did not become ready\n");
    e2e_system_destroy(&self);
    abort();
}

//  ---------------------------------------------------------------------

void
e2e_system_destroy(e2e_system_t **self_p)
{
    assert(self_p);
    e2e_system_t *self = *self_p;
    if (!self) {
        return;
    }
    for (int which = E2E_SERVICES - 1; which >= 0; which--) {
        e2e_service_t *service = &self->services[which];
        ts_proc_destroy(&service->proc);
        PQfinish(service->conn);
        ts_pg_drop_db(&service->db);
        zstr_free(&service->base_url);
        zstr_free(&service->stream);
    }
    freen(self->log_dir);
    freen(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------

int
e2e_service_restart(e2e_system_t *self, e2e_which_t which)
{
    assert(self);
    ts_proc_restart(self->services[which].proc);
    return s_wait_ready(self, which);
}

//  ---------------------------------------------------------------------

char *
e2e_url(const e2e_system_t *self, e2e_which_t which, const char *path)
{
    assert(self);
    assert(path && *path == '/');
    return zsys_sprintf("%s%s", self->services[which].base_url, path);
}

//  ---------------------------------------------------------------------

long
e2e_stream_tail(e2e_system_t *self, e2e_which_t which)
{
    assert(self);
    e2e_service_t *service = &self->services[which];
    const char *params[] = {service->stream, NULL};
    return e2e_sql_number(service->conn,
                          "SELECT coalesce(max(last_seq), 0) FROM bus_streams WHERE stream = $1",
                          params);
}

//  ---------------------------------------------------------------------
//  The highest seq of `stream` that `consumer`'s database has applied.

static long
s_checkpoint(e2e_system_t *self, e2e_which_t consumer, e2e_which_t stream)
{
    const char *params[] = {self->services[stream].stream, NULL};
    return e2e_sql_number(self->services[consumer].conn,
                          "SELECT coalesce(max(last_seq), 0) FROM bus_checkpoints"
                          " WHERE stream = $1",
                          params);
}

//  ---------------------------------------------------------------------

bool
e2e_system_quiet(void *arg)
{
    e2e_system_t *self = (e2e_system_t *) arg;
    assert(self);
    long before[E2E_SERVICES], after[E2E_SERVICES];
    for (int which = 0; which < E2E_SERVICES; which++) {
        before[which] = e2e_stream_tail(self, (e2e_which_t) which);
    }
    bool caught_up = s_checkpoint(self, E2E_INVENTORY, E2E_ORDER) == before[E2E_ORDER] &&
                     s_checkpoint(self, E2E_BILLING, E2E_ORDER) == before[E2E_ORDER] &&
                     s_checkpoint(self, E2E_ORDER, E2E_INVENTORY) == before[E2E_INVENTORY] &&
                     s_checkpoint(self, E2E_ORDER, E2E_BILLING) == before[E2E_BILLING];
    for (int which = 0; which < E2E_SERVICES; which++) {
        after[which] = e2e_stream_tail(self, (e2e_which_t) which);
    }
    bool read = before[E2E_ORDER] >= 0 && before[E2E_INVENTORY] >= 0 && before[E2E_BILLING] >= 0;
    return read && caught_up && memcmp(before, after, sizeof before) == 0;
}

//  ---------------------------------------------------------------------

static size_t
s_param_count(const char *const *params)
{
    size_t count = 0;
    while (params && params[count]) {
        count++;
    }
    return count;
}

//  ---------------------------------------------------------------------

long
e2e_sql_number(PGconn *conn, const char *sql, const char *const *params)
{
    assert(conn);
    assert(sql);
    PGresult *result =
        PQexecParams(conn, sql, (int) s_param_count(params), NULL, params, NULL, NULL, 0);
    long value = -1;
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        (void) fprintf(stderr, "e2e: %s: %s", sql, PQresultErrorMessage(result));
    } else if (PQntuples(result) == 1 && !PQgetisnull(result, 0, 0)) {
        value = atol(PQgetvalue(result, 0, 0));
    }
    PQclear(result);
    return value;
}

//  ---------------------------------------------------------------------

PGresult *
e2e_sql_rows(PGconn *conn, const char *sql, const char *const *params)
{
    assert(conn);
    assert(sql);
    PGresult *result =
        PQexecParams(conn, sql, (int) s_param_count(params), NULL, params, NULL, NULL, 0);
    if (PQresultStatus(result) != PGRES_TUPLES_OK) {
        (void) fprintf(stderr, "e2e: %s: %s", sql, PQresultErrorMessage(result));
        abort();
    }
    return result;
}

//  ---------------------------------------------------------------------
//  HTTP client

struct e2e_http {
    CURL *curl; //  one easy handle: its connections are reused (owned)
};

//  ---------------------------------------------------------------------

e2e_http_t *
e2e_http_new(void)
{
    e2e_http_t *self = (e2e_http_t *) zmalloc(sizeof *self);
    self->curl = curl_easy_init();
    assert(self->curl);
    return self;
}

//  ---------------------------------------------------------------------

void
e2e_http_destroy(e2e_http_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        curl_easy_cleanup((*self_p)->curl);
        freen(*self_p);
    }
}

//  ---------------------------------------------------------------------
//  libcurl write callback: append to the body, up to E2E_BODY_MAX.

static size_t
s_collect(char *data, size_t size, size_t count, void *userp)
{
    e2e_reply_t *reply = (e2e_reply_t *) userp;
    size_t bytes = size * count;
    size_t used = strlen(reply->body);
    if (bytes > E2E_BODY_MAX - used) {
        return 0;
    }
    reply->body = (char *) realloc(reply->body, used + bytes + 1);
    assert(reply->body);
    memcpy(reply->body + used, data, bytes);
    reply->body[used + bytes] = '\0';
    return bytes;
}

//  ---------------------------------------------------------------------
//  The last value of response header `name`, or NULL. Caller owns it.

static char *
s_header(CURL *curl, const char *name)
{
    struct curl_header *header = NULL;
    if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &header) != CURLHE_OK) {
        return NULL;
    }
    return strdup(header->value);
}

//  ---------------------------------------------------------------------
//  The handle is reset for each call, which keeps its connection cache.

int
e2e_http_call(e2e_http_t *self,
              const char *method,
              const char *url,
              const char *const *headers,
              const char *body,
              e2e_reply_t *reply)
{
    assert(self);
    assert(method);
    assert(url);
    assert(reply);
    memset(reply, 0, sizeof *reply);
    reply->body = strdup("");
    CURL *curl = self->curl;
    curl_easy_reset(curl);
    struct curl_slist *list = curl_slist_append(NULL, "Expect:");
    for (size_t index = 0; headers && headers[index]; index++) {
        list = curl_slist_append(list, headers[index]);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) E2E_REQUEST_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body));
    }
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
        reply->location = s_header(curl, "Location");
        reply->content_type = s_header(curl, "Content-Type");
        char *replayed = s_header(curl, "Idempotent-Replayed");
        reply->replayed = replayed && streq(replayed, "true");
        freen(replayed);
        reply->json = json_loads(reply->body, JSON_DECODE_ANY, NULL);
    } else {
        reply->status = 0;
    }
    curl_slist_free_all(list);
    return code == CURLE_OK ? 0 : -1;
}

//  ---------------------------------------------------------------------

int
e2e_http_send_json(e2e_http_t *self,
                   const char *method,
                   const char *url,
                   const char *const *headers,
                   const char *body,
                   e2e_reply_t *reply)
{
    const char *all[16] = {"Content-Type: application/json"};
    size_t count = 1;
    for (size_t index = 0; headers && headers[index]; index++) {
        assert(count < 15);
        all[count++] = headers[index];
    }
    return e2e_http_call(self, method, url, all, body, reply);
}

//  ---------------------------------------------------------------------

void
e2e_reply_free(e2e_reply_t *reply)
{
    assert(reply);
    freen(reply->body);
    json_decref(reply->json);
    freen(reply->location);
    freen(reply->content_type);
    memset(reply, 0, sizeof *reply);
}

//  ---------------------------------------------------------------------

typedef struct {
    e2e_http_t *http;  //  borrowed
    const char *url;   //  borrowed
    const char *field; //  borrowed
    const char *value; //  borrowed
    e2e_reply_t last;  //  the last answer (owned)
} field_wait_t;

static bool
s_field_is(void *arg)
{
    field_wait_t *wait = (field_wait_t *) arg;
    e2e_reply_free(&wait->last);
    (void) e2e_http_call(wait->http, "GET", wait->url, NULL, NULL, &wait->last);
    const char *value = e2e_json_str(wait->last.json, wait->field);
    return wait->last.status == 200 && value && streq(value, wait->value);
}

//  ---------------------------------------------------------------------

json_t *
e2e_wait_field(
    e2e_http_t *self, const char *url, const char *field, const char *value, int timeout_ms)
{
    assert(self);
    assert(url);
    assert(field);
    assert(value);
    field_wait_t wait = {self, url, field, value, {0}};
    wait.last.body = strdup("");
    json_t *found = NULL;
    if (ts_wait_until(s_field_is, &wait, timeout_ms)) {
        found = json_incref(wait.last.json);
    } else {
        (void) fprintf(stderr, "e2e: %s: %s never became \"%s\"; last answer %ld: %s\n", url, field,
                       value, wait.last.status, wait.last.body);
    }
    e2e_reply_free(&wait.last);
    return found;
}

//  ---------------------------------------------------------------------

const char *
e2e_json_str(const json_t *object, const char *key)
{
    assert(key);
    return json_string_value(json_object_get(object, key));
}

//  ---------------------------------------------------------------------

json_t *
e2e_log_lines(const ts_proc_t *proc, const char *key, const char *value)
{
    assert(proc);
    assert(key);
    assert(value);
    char *text = ts_proc_log_read(proc);
    json_t *lines = json_array();
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *object = line[0] == '{' ? json_loads(line, 0, NULL) : NULL;
        const char *found = e2e_json_str(object, key);
        if (found && streq(found, value)) {
            json_array_append(lines, object);
        }
        json_decref(object);
    }
    freen(text);
    return lines;
}
