/*  =========================================================================
    shim_bridge_test - bridged mode end to end: our services, the shim,
    RabbitMQ, and pika playing MassTransit

    Real processes (order-service, inventory-service, billing-service,
    broker-shim) on fresh databases, the broker scripts/test.sh starts
    (TEST_AMQP_URL), and mt_peer.py (python3-pika) as the .NET side. Every
    case uses exchange and queue names of its own (a random suffix; the
    shim's exchanges through SHIM_MAP, the URNs unchanged):

    - orders created through order-service reach a MassTransit receive
      endpoint (its exchange and queue, an exchange-to-exchange binding from
      the message type's exchange) exactly as MassTransit would publish
      them, checked property by property and field by field;
    - MassTransit envelopes of both serializers (System.Text.Json: camelCase,
      nulls, decimals as strings; Newtonsoft: PascalCase, no nulls, decimals
      as numbers) make inventory reserve and billing start a payment, once,
      although each message id is sent twice;
    - no loop: what the shim publishes comes back to its own queue and is
      dropped, and what came from RabbitMQ is never published back, even
      when the shim subscribes to its own stream;
    - poison (not JSON, an unknown URN, no message, a bad GUID) lands in
      "<queue>_error" with the reason in headers, body and properties
      untouched, and the good message behind it is bridged;
    - SHIM_CONSUME=OrderCreated on a queue an earlier run bound to all
      seven exchanges: only OrderCreated reaches the queue (a StockReserved
      envelope is neither bridged nor left in it); SHIM_CONSUME=none starts
      no consumer and is ready without one.
    =========================================================================
*/
#include <czmq.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "e2e_support.h"
#include "shim_test_support.h"
#include "svc_uuid.h"
#include "ts.h"

#define S_ORDERS 3

//  What every case has: names, a log directory, the services it runs.
typedef struct {
    char suffix[SHIM_TS_SUFFIX_SIZE]; //  random, in every name
    char *dir;                        //  logs and peer files of the case (owned)
    char *map;                        //  SHIM_MAP (owned)
    char *queue;                      //  SHIM_QUEUE (owned)
    char *error_queue;                //  "<queue>_error" (owned)
    char *endpoint;                   //  the pika receive endpoint (owned)
    char *out;                        //  its deliveries (owned)
    char *created_exchange;           //  the OrderCreated exchange (owned)
    shim_ts_service_t *order;         //  (owned) or NULL
    shim_ts_service_t *inventory;     //  (owned) or NULL
    shim_ts_service_t *billing;       //  (owned) or NULL
    shim_ts_service_t *shim;          //  (owned)
    ts_proc_t *consumer;              //  the pika consumer (owned) or NULL
    e2e_http_t *http;                 //  (owned)
} fixture_t;

//  --------------------------------------------------------------------------
//  Fixture

static fixture_t *
s_fixture_new(const char *name)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    shim_ts_suffix(fixture->suffix);
    fixture->dir = zsys_sprintf("%s/%s", SHIM_TEST_LOG_DIR, name);
    //  A previous run's logs go; the parents are made as needed.
    char *path = strdup(fixture->dir);
    struct stat info;
    if (stat(path, &info) == 0) {
        ts_tmpdir_remove(&path);
        path = strdup(fixture->dir);
    }
    for (char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        (void) mkdir(path, 0700);
        *slash = '/';
    }
    zstr_free(&path);
    assert_int_equal(mkdir(fixture->dir, 0700), 0);
    (void) fprintf(stderr, "%s: logs in %s\n", name, fixture->dir);
    char *prefix = zsys_sprintf("t%s", fixture->suffix);
    fixture->map = shim_ts_map(prefix);
    fixture->created_exchange = shim_ts_exchange(prefix, "OrderCreatedEvent");
    zstr_free(&prefix);
    fixture->queue = zsys_sprintf("evbus-shim-%s", fixture->suffix);
    fixture->error_queue = zsys_sprintf("%s_error", fixture->queue);
    fixture->endpoint = zsys_sprintf("order-created-%s", fixture->suffix);
    fixture->out = zsys_sprintf("%s/deliveries.jsonl", fixture->dir);
    fixture->shim = shim_ts_service_new(SHIM_TS_SHIM, fixture->dir);
    shim_ts_service_set(fixture->shim, "RABBITMQ_URL", ts_amqp_url());
    shim_ts_service_set(fixture->shim, "SHIM_MAP", fixture->map);
    shim_ts_service_set(fixture->shim, "SHIM_QUEUE", fixture->queue);
    fixture->http = e2e_http_new();
    return fixture;
}

static void
s_fixture_destroy(fixture_t **fixture_p)
{
    fixture_t *fixture = *fixture_p;
    if (fixture->consumer) {
        assert_int_equal(ts_proc_term(fixture->consumer, SHIM_TS_STOP_MS), 0);
        ts_proc_destroy(&fixture->consumer);
    }
    //  Our processes stop cleanly (exit 0) on SIGTERM.
    shim_ts_service_t *services[] = {fixture->shim, fixture->billing, fixture->inventory,
                                     fixture->order};
    for (size_t index = 0; index < 4; index++) {
        if (services[index] && ts_proc_running(services[index]->proc)) {
            assert_int_equal(ts_proc_term(services[index]->proc, SHIM_TS_STOP_MS), 0);
        }
    }
    const char *queues[] = {fixture->queue, fixture->error_queue, fixture->endpoint, NULL};
    const char *exchanges[] = {fixture->error_queue, fixture->endpoint, NULL};
    shim_ts_peer_delete(ts_amqp_url(), queues, exchanges, fixture->dir);
    e2e_http_destroy(&fixture->http);
    shim_ts_service_destroy(&fixture->shim);
    shim_ts_service_destroy(&fixture->billing);
    shim_ts_service_destroy(&fixture->inventory);
    shim_ts_service_destroy(&fixture->order);
    zstr_free(&fixture->created_exchange);
    zstr_free(&fixture->out);
    zstr_free(&fixture->endpoint);
    zstr_free(&fixture->error_queue);
    zstr_free(&fixture->queue);
    zstr_free(&fixture->map);
    zstr_free(&fixture->dir);
    freen(fixture);
    *fixture_p = NULL;
}

//  Start the pika receive endpoint, bound from the OrderCreated exchange.
static void
s_consumer_start(fixture_t *fixture)
{
    const char *exchanges[] = {fixture->created_exchange, NULL};
    char *log_path = zsys_sprintf("%s/consumer.log", fixture->dir);
    fixture->consumer = shim_ts_peer_consume(ts_amqp_url(), fixture->endpoint, exchanges,
                                             fixture->out, false, log_path);
    zstr_free(&log_path);
}

//  --------------------------------------------------------------------------
//  Waiting

typedef struct {
    const char *path; //  a JSON-lines file
    const char *key;  //  lines that have it
    size_t count;     //  at least this many
} s_lines_t;

static bool
s_lines_reached(void *arg)
{
    s_lines_t *wait = arg;
    json_t *lines = shim_ts_lines(wait->path, wait->key);
    bool reached = json_array_size(lines) >= wait->count;
    json_decref(lines);
    return reached;
}

//  The deliveries of the pika consumer once there are `count` (fails the
//  test after SHIM_TS_WAIT_MS).
static json_t *
s_deliveries(fixture_t *fixture, size_t count)
{
    s_lines_t wait = {fixture->out, "body", count};
    if (!ts_wait_until(s_lines_reached, &wait, SHIM_TS_WAIT_MS)) {
        ts_proc_log_dump(fixture->shim->proc, "the shim's log", 40);
        fail_msg("fewer than %zu deliveries reached the MassTransit endpoint", count);
    }
    return shim_ts_lines(fixture->out, "body");
}

typedef struct {
    const shim_ts_service_t *service; //  whose /metrics
    const char *series;               //  which series
    double value;                     //  at least this
} s_metric_t;

static bool
s_metric_reached(void *arg)
{
    s_metric_t *wait = arg;
    return shim_ts_metric(wait->service, wait->series) >= wait->value;
}

static void
s_wait_metric(const shim_ts_service_t *service, const char *series, double value)
{
    s_metric_t wait = {service, series, value};
    if (!ts_wait_until(s_metric_reached, &wait, SHIM_TS_WAIT_MS)) {
        fail_msg("%s stayed below %g (it is %g)", series, value, shim_ts_metric(service, series));
    }
}

typedef struct {
    const shim_ts_service_t *service; //  whose database
    const char *sql;                  //  a count
    const char *param;                //  its $1, or NULL
    long value;                       //  exactly this
} s_sql_t;

static bool
s_sql_reached(void *arg)
{
    s_sql_t *wait = arg;
    const char *params[] = {wait->param, NULL};
    return shim_ts_sql_number(wait->service, wait->sql, wait->param ? params : NULL) == wait->value;
}

static void
s_wait_sql(const shim_ts_service_t *service, const char *sql, const char *param, long value)
{
    s_sql_t wait = {service, sql, param, value};
    if (!ts_wait_until(s_sql_reached, &wait, SHIM_TS_WAIT_MS)) {
        const char *params[] = {param, NULL};
        fail_msg("%s: %ld, not %ld", sql, shim_ts_sql_number(service, sql, param ? params : NULL),
                 value);
    }
}

//  --------------------------------------------------------------------------
//  Checks

static void
s_assert_matches(const char *text, const char *pattern)
{
    regex_t regex;
    assert_int_equal(regcomp(&regex, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&regex, text, 0, NULL, 0);
    regfree(&regex);
    if (rc != 0) {
        fail_msg("\"%s\" does not match %s", text, pattern);
    }
}

#define S_GUID_D "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#define S_UTC_TIME "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,7})?Z$"

static const char *
s_str(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);
    if (!json_is_string(value)) {
        fail_msg("\"%s\" is not a string", key);
    }
    return json_string_value(value);
}

static void
s_assert_null(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);
    if (!value || !json_is_null(value)) {
        fail_msg("\"%s\" is not written as null", key);
    }
}

//  The keys of a JSON object text, in order, joined by ','.
static char *
s_keys(const json_t *object)
{
    char *keys = strdup("");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *) object, key, value)
    {
        char *longer = zsys_sprintf("%s%s%s", keys, *keys ? "," : "", key);
        zstr_free(&keys);
        keys = longer;
    }
    return keys;
}

//  POST an order; returns its id (caller frees).
static char *
s_create_order(fixture_t *fixture, const char *body, const char *traceparent)
{
    char *url = shim_ts_url(fixture->order, "/orders");
    char *trace_header = traceparent ? zsys_sprintf("traceparent: %s", traceparent) : NULL;
    const char *headers[] = {trace_header, NULL};
    e2e_reply_t reply;
    assert_int_equal(
        e2e_http_send_json(fixture->http, "POST", url, trace_header ? headers : NULL, body, &reply),
        0);
    assert_int_equal(reply.status, 201);
    char *id = strdup(e2e_json_str(reply.json, "orderId"));
    e2e_reply_free(&reply);
    zstr_free(&trace_header);
    zstr_free(&url);
    return id;
}

//  --------------------------------------------------------------------------
//  1. Orders created through order-service reach a MassTransit endpoint as
//  a MassTransit publisher would send them.

static void
s_check_created(fixture_t *fixture,
                const json_t *delivery,
                const char *order_id,
                const char *body,
                const char *traceparent)
{
    char *broker = strdup(ts_amqp_url());
    //  "amqp://u:p@127.0.0.1:port/%2F" -> "rabbitmq://127.0.0.1:port"
    char *host = strchr(broker, '@') + 1;
    host[strcspn(host, "/")] = '\0';
    char *broker_address = zsys_sprintf("rabbitmq://%s", host);
    zstr_free(&broker);

    //  AMQP properties and headers.
    assert_string_equal(s_str(delivery, "content_type"), "application/vnd.masstransit+json");
    assert_int_equal(json_integer_value(json_object_get(delivery, "delivery_mode")), 2);
    assert_true(json_is_null(json_object_get(delivery, "correlation_id")));
    assert_string_equal(s_str(delivery, "exchange"), fixture->created_exchange);
    assert_string_equal(s_str(delivery, "routing_key"), "");
    const json_t *headers = json_object_get(delivery, "headers");
    assert_string_equal(s_str(headers, "X-Bridge-Origin"), "evbus");
    const char *message_id = s_str(delivery, "message_id");
    s_assert_matches(message_id, S_GUID_D);

    //  The envelope: all 15 fields, in MassTransit's order.
    json_error_t error;
    json_t *envelope = json_loads(s_str(delivery, "body"), 0, &error);
    assert_non_null(envelope);
    char *keys = s_keys(envelope);
    assert_string_equal(keys, "messageId,requestId,correlationId,conversationId,initiatorId,"
                              "sourceAddress,destinationAddress,responseAddress,faultAddress,"
                              "messageType,message,expirationTime,sentTime,headers,host");
    zstr_free(&keys);
    assert_string_equal(s_str(envelope, "messageId"), message_id);
    //  messageId is the event's own id in order-service's event log.
    const char *params[] = {message_id, NULL};
    assert_int_equal(shim_ts_sql_number(fixture->order,
                                        "SELECT count(*) FROM bus_events"
                                        " WHERE message_id = $1::uuid AND type = 'OrderCreated'",
                                        params),
                     1);
    s_assert_null(envelope, "requestId");
    s_assert_null(envelope, "correlationId");
    //  conversationId: order-service correlates an order's events by its id.
    assert_string_equal(s_str(envelope, "conversationId"), order_id);
    s_assert_null(envelope, "initiatorId");
    char *source = zsys_sprintf("%s/%s", broker_address, fixture->queue);
    assert_string_equal(s_str(envelope, "sourceAddress"), source);
    zstr_free(&source);
    char *destination = zsys_sprintf("%s/%s", broker_address, fixture->created_exchange);
    assert_string_equal(s_str(envelope, "destinationAddress"), destination);
    zstr_free(&destination);
    s_assert_null(envelope, "responseAddress");
    s_assert_null(envelope, "faultAddress");
    const json_t *types = json_object_get(envelope, "messageType");
    assert_int_equal(json_array_size(types), 1);
    assert_string_equal(json_string_value(json_array_get(types, 0)),
                        "urn:message:Contracts:OrderCreatedEvent");
    s_assert_null(envelope, "expirationTime");
    s_assert_matches(s_str(envelope, "sentTime"), S_UTC_TIME);
    const json_t *envelope_headers = json_object_get(envelope, "headers");
    assert_string_equal(s_str(envelope_headers, "X-Bridge-Origin"), "evbus");
    if (traceparent) {
        //  The trace goes on: same trace id, a span of order-service's.
        assert_memory_equal(s_str(envelope_headers, "traceparent"), traceparent, 35);
        assert_string_equal(s_str(envelope_headers, "MT-Activity-Id"),
                            s_str(envelope_headers, "traceparent"));
        assert_string_equal(s_str(headers, "traceparent"), s_str(envelope_headers, "traceparent"));
    }

    //  The host block, in BusHostInfo's order, describing the shim.
    const json_t *host_block = json_object_get(envelope, "host");
    keys = s_keys(host_block);
    assert_string_equal(keys, "machineName,processName,processId,assembly,assemblyVersion,"
                              "frameworkVersion,massTransitVersion,operatingSystemVersion");
    zstr_free(&keys);
    char hostname[256] = "";
    assert_int_equal(gethostname(hostname, sizeof hostname - 1), 0);
    assert_string_equal(s_str(host_block, "machineName"), hostname);
    assert_string_equal(s_str(host_block, "processName"), "broker-shim");
    assert_int_equal(json_integer_value(json_object_get(host_block, "processId")),
                     ts_proc_pid(fixture->shim->proc));
    assert_string_equal(s_str(host_block, "assembly"), "broker-shim");
    assert_non_null(s_str(host_block, "assemblyVersion"));
    assert_non_null(s_str(host_block, "operatingSystemVersion"));

    //  The .NET contract: camelCase, GUID D form, decimals as strings.
    const json_t *message = json_object_get(envelope, "message");
    json_t *sent = json_loads(body, 0, &error);
    assert_string_equal(s_str(message, "orderId"), order_id);
    s_assert_matches(s_str(message, "orderId"), S_GUID_D);
    assert_string_equal(s_str(message, "customerId"), s_str(sent, "customerId"));
    assert_string_equal(s_str(message, "currency"), s_str(sent, "currency"));
    s_assert_matches(s_str(message, "createdAt"), S_UTC_TIME);
    const json_t *items = json_object_get(message, "items");
    const json_t *sent_items = json_object_get(sent, "items");
    assert_int_equal(json_array_size(items), json_array_size(sent_items));
    long total_cents = 0;
    for (size_t index = 0; index < json_array_size(items); index++) {
        const json_t *item = json_array_get(items, index);
        const json_t *sent_item = json_array_get(sent_items, index);
        assert_string_equal(s_str(item, "sku"), s_str(sent_item, "sku"));
        assert_true(json_is_integer(json_object_get(item, "quantity")));
        long quantity = (long) json_integer_value(json_object_get(item, "quantity"));
        assert_int_equal(quantity, json_integer_value(json_object_get(sent_item, "quantity")));
        const char *price = s_str(item, "unitPrice");
        assert_string_equal(price, s_str(sent_item, "unitPrice"));
        long units = 0, cents = 0;
        assert_int_equal(sscanf(price, "%ld.%2ld", &units, &cents), 2);
        total_cents += quantity * (units * 100 + cents);
    }
    char total[32];
    (void) snprintf(total, sizeof total, "%ld.%02ld", total_cents / 100, total_cents % 100);
    assert_string_equal(s_str(message, "total"), total);
    json_decref(sent);
    json_decref(envelope);
    zstr_free(&broker_address);
}

static void
test_orders_reach_masstransit(void **state)
{
    (void) state;
    fixture_t *fixture = s_fixture_new("orders_reach_masstransit");
    fixture->order = shim_ts_service_new(SHIM_TS_ORDER, fixture->dir);
    shim_ts_service_set(fixture->shim, "PUBLISHERS", fixture->order->pub);
    s_consumer_start(fixture);
    shim_ts_service_t *services[] = {fixture->order, fixture->shim, NULL};
    shim_ts_services_start(services);

    const char *bodies[S_ORDERS] = {
        "{\"customerId\": \"c-42\", \"currency\": \"EUR\", \"items\": [{\"sku\": \"SKU-1\","
        " \"quantity\": 2, \"unitPrice\": \"19.99\"}, {\"sku\": \"SKU-2\", \"quantity\": 1,"
        " \"unitPrice\": \"0.50\"}]}",
        "{\"customerId\": \"Kunde Ä\", \"currency\": \"EUR\", \"items\": [{\"sku\": \"B.1\","
        " \"quantity\": 3, \"unitPrice\": \"100.00\"}]}",
        "{\"customerId\": \"c-7\", \"currency\": \"USD\", \"items\": [{\"sku\": \"x_1\","
        " \"quantity\": 1, \"unitPrice\": \"0.01\"}]}"};
    const char *traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    char *ids[S_ORDERS];
    for (size_t index = 0; index < S_ORDERS; index++) {
        ids[index] = s_create_order(fixture, bodies[index], index == 0 ? traceparent : NULL);
    }
    json_t *deliveries = s_deliveries(fixture, S_ORDERS);
    assert_int_equal(json_array_size(deliveries), S_ORDERS);
    for (size_t index = 0; index < S_ORDERS; index++) {
        //  In commit order: one stream, one partition key each, one relay.
        const json_t *delivery = json_array_get(deliveries, index);
        json_t *envelope = json_loads(s_str(delivery, "body"), 0, NULL);
        const char *order_id = s_str(json_object_get(envelope, "message"), "orderId");
        size_t which = S_ORDERS;
        for (size_t candidate = 0; candidate < S_ORDERS; candidate++) {
            which = streq(ids[candidate], order_id) ? candidate : which;
        }
        assert_true(which < S_ORDERS);
        s_check_created(fixture, delivery, ids[which], bodies[which],
                        which == 0 ? traceparent : NULL);
        json_decref(envelope);
    }
    json_decref(deliveries);
    s_wait_metric(fixture->shim, "shim_bridged_total{direction=\"to_rabbitmq\"}", S_ORDERS);
    //  What the shim published came back to its own queue and was dropped.
    s_wait_metric(fixture->shim, "shim_own_skipped_total{direction=\"from_rabbitmq\"}", S_ORDERS);
    assert_int_equal(shim_ts_sql_number(fixture->shim, "SELECT count(*) FROM bus_events", NULL), 0);
    for (size_t index = 0; index < S_ORDERS; index++) {
        zstr_free(&ids[index]);
    }
    s_fixture_destroy(&fixture);
}

//  --------------------------------------------------------------------------
//  2. MassTransit publishers' envelopes make inventory reserve and billing
//  start a payment, exactly once although each is sent twice.

//  System.Text.Json's shape: camelCase, nulls written, decimals as strings.
static json_t *
s_stj_envelope(const char *message_id, const char *order_id, const char *sku)
{
    json_t *envelope = json_pack(
        "{s:s, s:n, s:n, s:s, s:n, s:s, s:s, s:n, s:n, s:[s],"
        " s:{s:s, s:s, s:s, s:[{s:s, s:i, s:s}]}, s:n, s:s, s:{}, s:{s:s, s:s, s:i}}",
        "messageId", message_id, "requestId", "correlationId", "conversationId",
        "0a6e0000-ac11-0242-4c5d-08dd35e1a2b4", "initiatorId", "sourceAddress",
        "rabbitmq://localhost/MYHOST_OrderApi_bus_8ioyyyfsf4yyb1rmbdqyhkpjnc?temporary=true",
        "destinationAddress", "rabbitmq://localhost/Contracts:OrderCreatedEvent", "responseAddress",
        "faultAddress", "messageType", "urn:message:Contracts:OrderCreatedEvent", "message",
        "orderId", order_id, "customerId", "C-42", "total", "39.98", "items", "sku", sku,
        "quantity", 2, "unitPrice", "19.99", "expirationTime", "sentTime",
        "2025-01-15T10:20:30.1234567Z", "headers", "host", "machineName", "MYHOST", "processName",
        "OrderApi", "processId", 4242);
    assert_non_null(envelope);
    return envelope;
}

//  Newtonsoft's shape as a PascalCase publisher writes it: nulls and
//  defaults left out, the decimal as a number, no items (the seed's
//  contract has only the total).
static json_t *
s_newtonsoft_envelope(const char *message_id, const char *order_id)
{
    char *text = zsys_sprintf(
        "{\"MessageId\": \"%s\", \"ConversationId\": \"%s\","
        " \"DestinationAddress\": \"rabbitmq://localhost/Contracts:OrderCreatedEvent\","
        " \"MessageType\": [\"urn:message:Contracts:OrderCreatedEvent\"],"
        " \"Message\": {\"OrderId\": \"%s\", \"CustomerId\": \"C-43\", \"Total\": 12.50},"
        " \"SentTime\": \"2025-01-15T10:20:30+01:00\", \"Headers\": {}}",
        message_id, message_id, order_id);
    json_t *envelope = json_loads(text, 0, NULL);
    zstr_free(&text);
    assert_non_null(envelope);
    return envelope;
}

static json_t *
s_message(const char *exchange, json_t *body, const char *message_id, const char *content_type)
{
    json_t *message = json_pack("{s:s, s:o, s:s, s:{}}", "exchange", exchange, "body_json", body,
                                "message_id", message_id, "headers");
    if (content_type) {
        json_object_set_new(message, "content_type", json_string(content_type));
    }
    return message;
}

static void
test_masstransit_reaches_services(void **state)
{
    (void) state;
    fixture_t *fixture = s_fixture_new("masstransit_reaches_services");
    fixture->inventory = shim_ts_service_new(SHIM_TS_INVENTORY, fixture->dir);
    fixture->billing = shim_ts_service_new(SHIM_TS_BILLING, fixture->dir);
    //  Bridged mode: inventory and billing subscribe to the shim's stream;
    //  the shim carries theirs to RabbitMQ.
    shim_ts_service_set(fixture->inventory, "PUBLISHERS", fixture->shim->pub);
    shim_ts_service_set(fixture->billing, "PUBLISHERS", fixture->shim->pub);
    char *publishers = zsys_sprintf("%s,%s", fixture->inventory->pub, fixture->billing->pub);
    shim_ts_service_set(fixture->shim, "PUBLISHERS", publishers);
    zstr_free(&publishers);
    shim_ts_service_t *services[] = {fixture->shim, fixture->inventory, fixture->billing, NULL};
    shim_ts_services_start(services);
    //  Ready means consuming: its queue is there (test_consume_none asks
    //  the same question the other way).
    assert_true(shim_ts_peer_queue_exists(ts_amqp_url(), fixture->queue, fixture->dir));

    char sku[32];
    (void) snprintf(sku, sizeof sku, "SKU-%.8s", fixture->suffix);
    char *stock_url = zsys_sprintf("%s/stock/%s", fixture->inventory->base_url, sku);
    e2e_reply_t reply;
    assert_int_equal(
        e2e_http_send_json(fixture->http, "PUT", stock_url, NULL, "{\"available\": 10}", &reply),
        0);
    assert_int_equal(reply.status, 200);
    e2e_reply_free(&reply);

    char stj_id[SVC_UUID_TEXT_SIZE], newtonsoft_id[SVC_UUID_TEXT_SIZE];
    char stj_order[SVC_UUID_TEXT_SIZE], newtonsoft_order[SVC_UUID_TEXT_SIZE];
    svc_uuid_t uuid;
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, stj_id);
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, newtonsoft_id);
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, stj_order);
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, newtonsoft_order);
    json_t *messages = json_array();
    for (int round = 0; round < 2; round++) {
        json_array_append_new(messages, s_message(fixture->created_exchange,
                                                  s_stj_envelope(stj_id, stj_order, sku), stj_id,
                                                  "application/vnd.masstransit+json"));
        //  No content type at all: MassTransit falls back to the envelope.
        json_array_append_new(messages,
                              s_message(fixture->created_exchange,
                                        s_newtonsoft_envelope(newtonsoft_id, newtonsoft_order),
                                        newtonsoft_id, NULL));
    }
    shim_ts_peer_publish(ts_amqp_url(), messages, fixture->dir);
    json_decref(messages);

    //  Inventory reserved (the Newtonsoft order had nothing to reserve).
    const char *orders[] = {stj_order, newtonsoft_order};
    const char *amounts[] = {"39.98", "12.50"};
    for (size_t index = 0; index < 2; index++) {
        char *path = zsys_sprintf("/reservations/%s", orders[index]);
        char *url = shim_ts_url(fixture->inventory, path);
        json_t *reservation =
            e2e_wait_field(fixture->http, url, "status", "RESERVED", SHIM_TS_WAIT_MS);
        assert_non_null(reservation);
        assert_int_equal(json_array_size(json_object_get(reservation, "items")),
                         index == 0 ? 1 : 0);
        json_decref(reservation);
        zstr_free(&url);
        zstr_free(&path);
        path = zsys_sprintf("/payments/%s", orders[index]);
        url = shim_ts_url(fixture->billing, path);
        json_t *payment = e2e_wait_field(fixture->http, url, "status", "STARTED", SHIM_TS_WAIT_MS);
        assert_non_null(payment);
        assert_string_equal(e2e_json_str(payment, "amount"), amounts[index]);
        assert_string_equal(e2e_json_str(payment, "currency"), "EUR");
        json_decref(payment);
        zstr_free(&url);
        zstr_free(&path);
    }
    //  Each message id was sent twice: the second of each is a duplicate.
    s_wait_metric(fixture->shim, "shim_duplicates_total", 2);
    assert_int_equal(
        shim_ts_metric(fixture->shim, "shim_bridged_total{direction=\"from_rabbitmq\"}"), 2);
    assert_int_equal(shim_ts_sql_number(fixture->shim,
                                        "SELECT count(*) FROM bus_events WHERE stream = 'shim-0'",
                                        NULL),
                     2);
    assert_int_equal(shim_ts_sql_number(fixture->shim, "SELECT count(*) FROM shim_inbox", NULL), 2);
    //  Exactly once downstream: stock moved once, one payment each.
    assert_int_equal(e2e_http_call(fixture->http, "GET", stock_url, NULL, NULL, &reply), 0);
    assert_int_equal(json_integer_value(json_object_get(reply.json, "available")), 8);
    assert_int_equal(json_integer_value(json_object_get(reply.json, "reserved")), 2);
    e2e_reply_free(&reply);
    for (size_t index = 0; index < 2; index++) {
        const char *params[] = {orders[index], NULL};
        assert_int_equal(shim_ts_sql_number(fixture->billing,
                                            "SELECT count(*) FROM billing_payments"
                                            " WHERE order_id = $1::uuid",
                                            params),
                         1);
    }
    json_t *started = e2e_log_lines(fixture->billing->proc, "event", "billing.payment.started");
    assert_int_equal(json_array_size(started), 2);
    json_decref(started);
    //  And their answers went the other way, to RabbitMQ.
    s_wait_metric(fixture->shim, "shim_bridged_total{direction=\"to_rabbitmq\"}", 4);
    zstr_free(&stock_url);
    s_fixture_destroy(&fixture);
}

//  --------------------------------------------------------------------------
//  4. No loop, in either direction.

static void
test_no_loop(void **state)
{
    (void) state;
    fixture_t *fixture = s_fixture_new("no_loop");
    fixture->order = shim_ts_service_new(SHIM_TS_ORDER, fixture->dir);
    //  A misconfiguration that would loop: the shim also subscribes to its
    //  own stream, where what came from RabbitMQ lands.
    char *publishers = zsys_sprintf("%s,%s", fixture->order->pub, fixture->shim->pub);
    shim_ts_service_set(fixture->shim, "PUBLISHERS", publishers);
    zstr_free(&publishers);
    s_consumer_start(fixture);
    shim_ts_service_t *services[] = {fixture->order, fixture->shim, NULL};
    shim_ts_services_start(services);

    //  From RabbitMQ: appended to the shim's stream once, never published back.
    char message_id[SVC_UUID_TEXT_SIZE], order_id[SVC_UUID_TEXT_SIZE];
    svc_uuid_t uuid;
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, message_id);
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, order_id);
    json_t *messages = json_array();
    json_array_append_new(messages, s_message(fixture->created_exchange,
                                              s_stj_envelope(message_id, order_id, "SKU-L"),
                                              message_id, "application/vnd.masstransit+json"));
    shim_ts_peer_publish(ts_amqp_url(), messages, fixture->dir);
    json_decref(messages);
    s_wait_sql(fixture->shim, "SELECT count(*) FROM bus_events WHERE stream = 'shim-0'", NULL, 1);
    //  The shim's subscriber applied it (its checkpoint passed it) and
    //  skipped it: nothing was published.
    s_wait_sql(fixture->shim,
               "SELECT coalesce(max(last_seq), 0) FROM bus_checkpoints"
               " WHERE consumer = 'shim' AND stream = 'shim-0'",
               NULL, 1);
    s_wait_metric(fixture->shim, "shim_own_skipped_total{direction=\"to_rabbitmq\"}", 1);

    //  From us: an order goes out once and comes back to the shim's queue,
    //  where its mark stops it.
    char *id = s_create_order(fixture,
                              "{\"customerId\": \"c-1\", \"currency\": \"EUR\", \"items\":"
                              " [{\"sku\": \"S\", \"quantity\": 1, \"unitPrice\": \"1.00\"}]}",
                              NULL);
    //  Two deliveries: pika's own message (it is bound to the exchange it
    //  published to) and the order. The shim publishes in commit order and
    //  would have published the RabbitMQ message's event before the
    //  order's, had it taken it.
    json_t *deliveries = s_deliveries(fixture, 2);
    s_wait_metric(fixture->shim, "shim_own_skipped_total{direction=\"from_rabbitmq\"}", 1);
    size_t from_pika = 0, from_shim = 0;
    size_t index;
    json_t *delivery;
    json_array_foreach(deliveries, index, delivery)
    {
        const char *mark = e2e_json_str(json_object_get(delivery, "headers"), "X-Bridge-Origin");
        if (streq(s_str(delivery, "message_id"), message_id)) {
            assert_null(mark);
            from_pika++;
        } else {
            assert_non_null(mark);
            json_t *envelope = json_loads(s_str(delivery, "body"), 0, NULL);
            assert_string_equal(s_str(json_object_get(envelope, "message"), "orderId"), id);
            json_decref(envelope);
            from_shim++;
        }
    }
    assert_int_equal(from_pika, 1);
    assert_int_equal(from_shim, 1);
    json_decref(deliveries);
    //  Counted once confirmed, which may come after the delivery.
    s_wait_metric(fixture->shim, "shim_bridged_total{direction=\"to_rabbitmq\"}", 1);
    assert_int_equal(shim_ts_metric(fixture->shim, "shim_bridged_total{direction=\"to_rabbitmq\"}"),
                     1);
    assert_int_equal(shim_ts_sql_number(fixture->shim,
                                        "SELECT count(*) FROM bus_events WHERE stream = 'shim-0'",
                                        NULL),
                     1);
    assert_int_equal(
        shim_ts_sql_number(fixture->shim, "SELECT count(*) FROM bus_dead_letters", NULL), 0);
    zstr_free(&id);
    s_fixture_destroy(&fixture);
}

//  --------------------------------------------------------------------------
//  5. Poison goes to "<queue>_error" with the reason; what follows is bridged.

static void
test_poison(void **state)
{
    (void) state;
    fixture_t *fixture = s_fixture_new("poison");
    shim_ts_service_t *services[] = {fixture->shim, NULL};
    shim_ts_services_start(services);

    char good_id[SVC_UUID_TEXT_SIZE], order_id[SVC_UUID_TEXT_SIZE];
    svc_uuid_t uuid;
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, good_id);
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, order_id);
    const char *exchange = fixture->created_exchange;
    const char *content_type = "application/vnd.masstransit+json";
    json_t *messages = json_array();
    //  Not JSON.
    json_array_append_new(messages,
                          json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "exchange", exchange, "body",
                                    "{not json", "message_id", "poison-1", "content_type",
                                    content_type, "headers", "MT-Host-MachineName", "NET1"));
    //  A URN nobody maps.
    json_t *wrong_urn = s_stj_envelope("8d5bd7c4-7d0a-4c43-9a44-3c2a3e6c7f01", order_id, "S");
    json_array_set_new(json_object_get(wrong_urn, "messageType"), 0,
                       json_string("urn:message:Contracts:SomethingElse"));
    json_array_append_new(messages, s_message(exchange, wrong_urn, "poison-2", content_type));
    //  No "message".
    json_t *no_message = s_stj_envelope("8d5bd7c4-7d0a-4c43-9a44-3c2a3e6c7f02", order_id, "S");
    json_object_del(no_message, "message");
    json_array_append_new(messages, s_message(exchange, no_message, "poison-3", content_type));
    //  A bad GUID.
    json_t *bad_guid = s_stj_envelope("8d5bd7c4-7d0a-4c43-9a44-3c2a3e6c7f03", order_id, "S");
    json_object_set_new(json_object_get(bad_guid, "message"), "orderId", json_string("not-a-guid"));
    json_array_append_new(messages, s_message(exchange, bad_guid, "poison-4", content_type));
    //  And a good one behind them.
    json_array_append_new(messages, s_message(exchange, s_stj_envelope(good_id, order_id, "S"),
                                              good_id, content_type));
    shim_ts_peer_publish(ts_amqp_url(), messages, fixture->dir);

    //  The good one is bridged...
    s_wait_sql(fixture->shim, "SELECT count(*) FROM bus_events WHERE message_id = $1::uuid",
               good_id, 1);
    //  ... and the four others wait in the error queue, as they came.
    s_wait_metric(fixture->shim,
                  "shim_rejected_total{direction=\"from_rabbitmq\",error=\"not-json\"}", 1);
    s_wait_metric(fixture->shim,
                  "shim_rejected_total{direction=\"from_rabbitmq\",error=\"unknown-message-type\"}",
                  1);
    s_wait_metric(fixture->shim,
                  "shim_rejected_total{direction=\"from_rabbitmq\",error=\"no-message\"}", 1);
    s_wait_metric(fixture->shim,
                  "shim_rejected_total{direction=\"from_rabbitmq\",error=\"bad-id\"}", 1);
    json_t *dead = shim_ts_peer_get(ts_amqp_url(), fixture->error_queue, fixture->dir);
    assert_int_equal(json_array_size(dead), 4);
    const char *errors[] = {"not-json", "unknown-message-type", "no-message", "bad-id"};
    const char *reasons[] = {"", "messageType", "message", "orderId"};
    for (size_t index = 0; index < 4; index++) {
        const json_t *delivery = json_array_get(dead, index);
        const json_t *sent = json_array_get(messages, index);
        char expected_id[16];
        (void) snprintf(expected_id, sizeof expected_id, "poison-%zu", index + 1);
        assert_string_equal(s_str(delivery, "message_id"), expected_id);
        assert_string_equal(s_str(delivery, "content_type"), content_type);
        assert_int_equal(json_integer_value(json_object_get(delivery, "delivery_mode")), 2);
        const json_t *headers = json_object_get(delivery, "headers");
        assert_string_equal(s_str(headers, "x-shim-error"), errors[index]);
        const char *reason = s_str(headers, "x-shim-reason");
        assert_true(strlen(reason) > 0);
        assert_non_null(strstr(reason, reasons[index]));
        //  The body is the original's, byte for byte.
        const char *sent_body = e2e_json_str(sent, "body");
        if (sent_body) {
            assert_string_equal(s_str(delivery, "body"), sent_body);
            assert_string_equal(s_str(headers, "MT-Host-MachineName"), "NET1");
        } else {
            char *pretty = json_dumps(json_object_get(sent, "body_json"), JSON_INDENT(2));
            json_t *got = json_loads(s_str(delivery, "body"), 0, NULL);
            assert_true(json_equal(got, json_object_get(sent, "body_json")));
            json_decref(got);
            free(pretty);
        }
    }
    json_decref(dead);
    json_decref(messages);
    //  Nothing is left unacked in the shim's queue, nothing more in the
    //  error queue.
    s_wait_sql(fixture->shim, "SELECT count(*) FROM bus_events", NULL, 1);
    json_t *again = shim_ts_peer_get(ts_amqp_url(), fixture->error_queue, fixture->dir);
    assert_int_equal(json_array_size(again), 0);
    json_decref(again);
    s_fixture_destroy(&fixture);
}

//  --------------------------------------------------------------------------
//  6. SHIM_CONSUME: the queue is bound to the named types' exchanges only.

static void
test_consume_subset(void **state)
{
    (void) state;
    fixture_t *fixture = s_fixture_new("consume_subset");
    //  A first run with the default binds the queue to all seven.
    shim_ts_service_t *services[] = {fixture->shim, NULL};
    shim_ts_services_start(services);
    assert_int_equal(ts_proc_term(fixture->shim->proc, SHIM_TS_STOP_MS), 0);
    shim_ts_service_set(fixture->shim, "SHIM_CONSUME", "OrderCreated");
    shim_ts_services_start(services);

    char created_id[SVC_UUID_TEXT_SIZE], reserved_id[SVC_UUID_TEXT_SIZE];
    char order_id[SVC_UUID_TEXT_SIZE];
    svc_uuid_t uuid;
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, created_id);
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, reserved_id);
    svc_uuid_v4(&uuid);
    svc_uuid_format(&uuid, order_id);
    char *prefix = zsys_sprintf("t%s", fixture->suffix);
    char *reserved_exchange = shim_ts_exchange(prefix, "StockReservedEvent");
    zstr_free(&prefix);
    //  A valid StockReserved first (the shim would bridge it, were its
    //  queue bound to that exchange), then an OrderCreated.
    json_t *reserved = json_pack("{s:s, s:s, s:s, s:[s], s:{s:s}, s:s, s:{}}", "messageId",
                                 reserved_id, "conversationId", reserved_id, "destinationAddress",
                                 "rabbitmq://localhost/Contracts:StockReservedEvent", "messageType",
                                 "urn:message:Contracts:StockReservedEvent", "message", "orderId",
                                 order_id, "sentTime", "2025-01-15T10:20:30Z", "headers");
    assert_non_null(reserved);
    const char *content_type = "application/vnd.masstransit+json";
    json_t *messages = json_array();
    json_array_append_new(messages,
                          s_message(reserved_exchange, reserved, reserved_id, content_type));
    json_array_append_new(messages, s_message(fixture->created_exchange,
                                              s_stj_envelope(created_id, order_id, "SKU-C"),
                                              created_id, content_type));
    shim_ts_peer_publish(ts_amqp_url(), messages, fixture->dir);
    json_decref(messages);

    s_wait_sql(fixture->shim, "SELECT count(*) FROM bus_events WHERE message_id = $1::uuid",
               created_id, 1);
    assert_int_equal(
        shim_ts_metric(fixture->shim, "shim_bridged_total{direction=\"from_rabbitmq\"}"), 1);
    const char *params[] = {reserved_id, NULL};
    assert_int_equal(shim_ts_sql_number(fixture->shim,
                                        "SELECT count(*) FROM bus_events"
                                        " WHERE message_id = $1::uuid",
                                        params),
                     0);
    assert_int_equal(shim_ts_sql_number(fixture->shim, "SELECT count(*) FROM shim_inbox", NULL), 1);
    //  Stopped, the shim leaves nothing in its queue (what it had not
    //  acked would be requeued): the StockReserved never got there.
    assert_int_equal(ts_proc_term(fixture->shim->proc, SHIM_TS_STOP_MS), 0);
    json_t *left = shim_ts_peer_get(ts_amqp_url(), fixture->queue, fixture->dir);
    assert_int_equal(json_array_size(left), 0);
    json_decref(left);
    zstr_free(&reserved_exchange);
    s_fixture_destroy(&fixture);
}

//  SHIM_CONSUME=none: no consumer and no queue of the shim's in RabbitMQ
//  (it would store every message the shim publishes a second time), and
//  ready all the same.
static void
test_consume_none(void **state)
{
    (void) state;
    fixture_t *fixture = s_fixture_new("consume_none");
    shim_ts_service_set(fixture->shim, "SHIM_CONSUME", "none");
    shim_ts_service_t *services[] = {fixture->shim, NULL};
    shim_ts_services_start(services);
    json_t *lines = e2e_log_lines(fixture->shim->proc, "event", "shim.relay.rabbitmq.connected");
    assert_int_equal(json_array_size(lines), 1);
    json_decref(lines);
    lines = e2e_log_lines(fixture->shim->proc, "event", "shim.consumer.started");
    assert_int_equal(json_array_size(lines), 0);
    json_decref(lines);
    assert_false(shim_ts_peer_queue_exists(ts_amqp_url(), fixture->queue, fixture->dir));
    s_fixture_destroy(&fixture);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders_reach_masstransit),
        cmocka_unit_test(test_masstransit_reaches_services),
        cmocka_unit_test(test_no_loop),
        cmocka_unit_test(test_poison),
        cmocka_unit_test(test_consume_subset),
        cmocka_unit_test(test_consume_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
