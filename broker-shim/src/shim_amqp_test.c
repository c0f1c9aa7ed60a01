/*  =========================================================================
    shim_amqp_test - one AMQP connection against a real RabbitMQ

    Runs against the broker scripts/test.sh starts (TEST_AMQP_URL). Every
    exchange and queue name carries a random suffix, so runs in parallel
    never see each other's messages. Covers publishing with confirms,
    consuming with manual acks (deliveries assembled from many frames),
    dead-lettering a delivery with its properties and headers, reject with
    requeue, the broker closing the channel on an inequivalent declare,
    and an unreachable broker.
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_amqp.h"
#include "ts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define S_WAIT_MS 10000

typedef struct {
    char suffix[17];       //  random hex of this case's names
    shim_amqp_t *producer; //  confirms on (owned)
    shim_amqp_t *consumer; //  prefetch 10 (owned)
} fixture_t;

//  "<prefix>.<suffix>" into `buffer`.
static const char *
s_name(const fixture_t *fixture, const char *prefix, char *buffer, size_t size)
{
    (void) snprintf(buffer, size, "%s.%s", prefix, fixture->suffix);
    return buffer;
}

static shim_amqp_t *
s_connect(const char *name, bool confirms, int prefetch)
{
    shim_amqp_config_t config = {
        .url = ts_amqp_url(), .name = name, .confirms = confirms, .prefetch = prefetch};
    char *error = NULL;
    shim_amqp_t *amqp = shim_amqp_new(&config, &error);
    if (!amqp) {
        fail_msg("connect: %s", error);
    }
    return amqp;
}

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    svc_uuid_t random;
    svc_uuid_v4(&random);
    for (size_t index = 0; index < 8; index++) {
        (void) snprintf(fixture->suffix + 2 * index, 3, "%02x", random.bytes[index]);
    }
    fixture->producer = s_connect("shim_amqp_test producer", true, 0);
    fixture->consumer = s_connect("shim_amqp_test consumer", false, 10);
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    shim_amqp_destroy(&fixture->consumer);
    shim_amqp_destroy(&fixture->producer);
    freen(fixture);
    return 0;
}

//  The next event of `amqp` other than NOTHING, polling its socket until
//  `timeout_ms` passed (then type NOTHING).
static shim_amqp_event_type_t
s_next(shim_amqp_t *amqp, shim_amqp_event_t *event, char **error_out)
{
    int64_t deadline = zclock_mono() + S_WAIT_MS;
    while (true) {
        shim_amqp_event_type_t type = shim_amqp_next(amqp, event, error_out);
        if (type != SHIM_AMQP_NOTHING || zclock_mono() >= deadline) {
            return type;
        }
        zmq_pollitem_t item = {NULL, shim_amqp_fd(amqp), ZMQ_POLLIN, 0};
        (void) zmq_poll(&item, 1, (long) (deadline - zclock_mono()));
    }
}

//  Declare a fanout exchange and a queue bound to it.
static void
s_topology(shim_amqp_t *amqp, const char *exchange, const char *queue)
{
    char *error = NULL;
    assert_int_equal(shim_amqp_exchange_declare(amqp, exchange, "fanout", &error), 0);
    assert_int_equal(shim_amqp_queue_declare(amqp, queue, &error), 0);
    assert_int_equal(shim_amqp_queue_bind(amqp, queue, exchange, "", &error), 0);
    assert_null(error);
}

//  Publish a message of `size` body bytes with two headers, and wait for
//  its confirm. Returns its tag.
static uint64_t
s_publish(shim_amqp_t *amqp, const char *exchange, const char *message_id, size_t size)
{
    shim_message_t *message = shim_message_new(exchange, "");
    char *body = zmalloc(size + 1);
    for (size_t index = 0; index < size; index++) {
        body[index] = (char) ('a' + index % 26);
    }
    shim_message_set_body(message, &body, size);
    shim_message_set_content_type(message, "application/vnd.masstransit+json");
    shim_message_set_message_id(message, message_id);
    assert_int_equal(shim_message_add_header(message, "X-Bridge-Origin", "evbus"), 0);
    assert_int_equal(shim_message_add_header(message, "traceparent", "00-abc"), 0);
    uint64_t tag = 0;
    char *error = NULL;
    assert_int_equal(shim_amqp_publish(amqp, message, &tag, &error), 0);
    shim_message_destroy(&message);
    shim_amqp_event_t event;
    assert_int_equal(s_next(amqp, &event, &error), SHIM_AMQP_CONFIRM);
    assert_true(event.ack);
    assert_true(event.tag == tag || (event.multiple && event.tag >= tag));
    assert_null(error);
    return tag;
}

//  The next delivery on `amqp` (fails the test if none comes).
static shim_amqp_delivery_t *
s_delivery(shim_amqp_t *amqp)
{
    shim_amqp_event_t event;
    char *error = NULL;
    shim_amqp_event_type_t type = s_next(amqp, &event, &error);
    if (type != SHIM_AMQP_DELIVERY) {
        fail_msg("no delivery (event %d): %s", (int) type, error ? error : "timeout");
    }
    return event.delivery;
}

//  --------------------------------------------------------------------------
//  The usage example: publish with confirms, consume, ack.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    char exchange[64], queue[64];
    s_name(fixture, "Contracts:Usage", exchange, sizeof exchange);
    s_name(fixture, "usage", queue, sizeof queue);
    s_topology(fixture->producer, exchange, queue);
    assert_int_equal(s_publish(fixture->producer, exchange, "id-1", 10), 1);
    assert_int_equal(s_publish(fixture->producer, exchange, "id-2", 3), 2);
    char *error = NULL;
    assert_int_equal(shim_amqp_consume(fixture->consumer, queue, &error), 0);
    for (int round = 1; round <= 2; round++) {
        shim_amqp_delivery_t *delivery = s_delivery(fixture->consumer);
        const shim_delivery_t *view = shim_amqp_delivery_view(delivery);
        assert_string_equal(view->message_id, round == 1 ? "id-1" : "id-2");
        assert_string_equal(view->content_type, "application/vnd.masstransit+json");
        assert_null(view->correlation_id);
        assert_string_equal(view->exchange, exchange);
        assert_string_equal(view->routing_key, "");
        assert_int_equal(view->body_size, round == 1 ? 10 : 3);
        assert_memory_equal(view->body, "abcdefghij", view->body_size);
        assert_int_equal(view->header_count, 2);
        assert_string_equal(shim_delivery_header(view, "x-bridge-origin"), "evbus");
        assert_string_equal(shim_delivery_header(view, "traceparent"), "00-abc");
        assert_false(shim_amqp_delivery_redelivered(delivery));
        assert_false(shim_amqp_delivery_truncated(delivery));
        assert_int_equal(shim_amqp_ack(fixture->consumer, shim_amqp_delivery_tag(delivery), &error),
                         0);
        shim_amqp_delivery_destroy(&delivery);
    }
    shim_amqp_event_t event;
    assert_int_equal(shim_amqp_next(fixture->consumer, &event, &error), SHIM_AMQP_NOTHING);
    assert_false(shim_amqp_failed(fixture->consumer));
    assert_null(error);
}

//  --------------------------------------------------------------------------
//  A body of many frames (frame_max is 128 KiB) arrives whole.

static void
test_large_body(void **state)
{
    fixture_t *fixture = *state;
    char exchange[64], queue[64];
    s_name(fixture, "large", exchange, sizeof exchange);
    s_name(fixture, "large", queue, sizeof queue);
    s_topology(fixture->producer, exchange, queue);
    size_t size = 600 * 1024 + 7;
    s_publish(fixture->producer, exchange, "big", size);
    char *error = NULL;
    assert_int_equal(shim_amqp_consume(fixture->consumer, queue, &error), 0);
    shim_amqp_delivery_t *delivery = s_delivery(fixture->consumer);
    const shim_delivery_t *view = shim_amqp_delivery_view(delivery);
    assert_int_equal(view->body_size, size);
    assert_int_equal(shim_amqp_delivery_size(delivery), size);
    const char *body = view->body;
    for (size_t index = 0; index < size; index++) {
        if (body[index] != (char) ('a' + index % 26)) {
            fail_msg("byte %zu differs", index);
        }
    }
    assert_int_equal(shim_amqp_ack(fixture->consumer, shim_amqp_delivery_tag(delivery), &error), 0);
    shim_amqp_delivery_destroy(&delivery);
    assert_null(error);
}

//  --------------------------------------------------------------------------
//  Dead-lettering keeps the body and every header, adds ours; reject with
//  requeue brings a message back, marked redelivered.

static void
test_dead_letter_and_reject(void **state)
{
    fixture_t *fixture = *state;
    char exchange[64], queue[64], error_queue[64];
    s_name(fixture, "input", exchange, sizeof exchange);
    s_name(fixture, "input", queue, sizeof queue);
    s_name(fixture, "input_error", error_queue, sizeof error_queue);
    s_topology(fixture->producer, exchange, queue);
    s_topology(fixture->producer, error_queue, error_queue);
    s_publish(fixture->producer, exchange, "poison-1", 5);
    char *error = NULL;
    assert_int_equal(shim_amqp_consume(fixture->consumer, queue, &error), 0);
    shim_amqp_delivery_t *delivery = s_delivery(fixture->consumer);
    uint64_t tag = shim_amqp_delivery_tag(delivery);
    assert_int_equal(shim_amqp_reject(fixture->consumer, tag, true, &error), 0);
    shim_amqp_delivery_destroy(&delivery);
    delivery = s_delivery(fixture->consumer);
    assert_true(shim_amqp_delivery_redelivered(delivery));
    //  To the error exchange, through the producer connection (confirms).
    shim_header_t extra[] = {{"x-shim-reason", "body: not JSON"}, {"traceparent", "replaced"}};
    uint64_t dead_tag = 0;
    assert_int_equal(shim_amqp_dead_letter(fixture->producer, error_queue, delivery, extra, 2,
                                           &dead_tag, &error),
                     0);
    shim_amqp_event_t event;
    assert_int_equal(s_next(fixture->producer, &event, &error), SHIM_AMQP_CONFIRM);
    assert_true(event.ack);
    assert_int_equal(event.tag, dead_tag);
    assert_int_equal(shim_amqp_ack(fixture->consumer, shim_amqp_delivery_tag(delivery), &error), 0);
    shim_amqp_delivery_destroy(&delivery);
    shim_amqp_t *reader = s_connect("shim_amqp_test reader", false, 1);
    assert_int_equal(shim_amqp_consume(reader, error_queue, &error), 0);
    delivery = s_delivery(reader);
    const shim_delivery_t *view = shim_amqp_delivery_view(delivery);
    assert_string_equal(view->message_id, "poison-1");
    assert_string_equal(view->content_type, "application/vnd.masstransit+json");
    assert_memory_equal(view->body, "abcde", 5);
    assert_int_equal(view->header_count, 3);
    assert_string_equal(shim_delivery_header(view, "X-Bridge-Origin"), "evbus");
    assert_string_equal(shim_delivery_header(view, "traceparent"), "replaced");
    assert_string_equal(shim_delivery_header(view, "x-shim-reason"), "body: not JSON");
    assert_int_equal(shim_amqp_ack(reader, shim_amqp_delivery_tag(delivery), &error), 0);
    shim_amqp_delivery_destroy(&delivery);
    shim_amqp_destroy(&reader);
    assert_null(error);
}

//  --------------------------------------------------------------------------
//  Declaring an exchange with other parameters makes the broker close the
//  channel (406): the connection fails, and says why.

static void
test_inequivalent_declare(void **state)
{
    fixture_t *fixture = *state;
    char exchange[64];
    s_name(fixture, "Contracts:Other", exchange, sizeof exchange);
    char *error = NULL;
    assert_int_equal(shim_amqp_exchange_declare(fixture->producer, exchange, "fanout", &error), 0);
    assert_int_equal(shim_amqp_exchange_declare(fixture->producer, exchange, "topic", &error), -1);
    assert_non_null(strstr(error, "406"));
    zstr_free(&error);
    assert_true(shim_amqp_failed(fixture->producer));
    assert_int_equal(shim_amqp_queue_declare(fixture->producer, "q", &error), -1);
    assert_non_null(strstr(error, "failed earlier"));
    zstr_free(&error);
    shim_amqp_event_t event;
    assert_int_equal(shim_amqp_next(fixture->producer, &event, &error), SHIM_AMQP_FAILED);
    zstr_free(&error);
    //  Names over the AMQP limit are refused before anything is sent.
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(shim_amqp_queue_declare(fixture->consumer, long_name, &error), -1);
    zstr_free(&error);
    assert_false(shim_amqp_failed(fixture->consumer));
}

//  --------------------------------------------------------------------------
//  URLs: checked, turned into MassTransit's broker address; an unreachable
//  broker is an error, not a hang.

static void
test_urls_and_unreachable(void **state)
{
    (void) state;
    char *error = NULL;
    assert_int_equal(shim_amqp_url_check("amqp://guest:guest@127.0.0.1:5672/%2F", &error), 0);
    assert_int_equal(shim_amqp_url_check("http://x", &error), -1);
    zstr_free(&error);
    assert_int_equal(shim_amqp_url_check("amqps://u:p@host/%2F", &error), -1);
    assert_non_null(strstr(error, "TLS"));
    zstr_free(&error);
    char *address = shim_amqp_broker_address("amqp://guest:guest@localhost:5672/%2F");
    assert_string_equal(address, "rabbitmq://localhost");
    zstr_free(&address);
    address = shim_amqp_broker_address("amqp://u:p@mq.example:5673/sales");
    assert_string_equal(address, "rabbitmq://mq.example:5673/sales");
    zstr_free(&address);
    address = shim_amqp_broker_address("amqp://u:p@h/a%2Fb");
    assert_string_equal(address, "rabbitmq://h/a%2Fb");
    zstr_free(&address);
    shim_amqp_config_t config = {.url = "amqp://guest:guest@127.0.0.1:1/%2F", .timeout_ms = 2000};
    int64_t started = zclock_mono();
    assert_null(shim_amqp_new(&config, &error));
    assert_true(zclock_mono() - started < 5000);
    assert_non_null(strstr(error, "connect"));
    zstr_free(&error);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_large_body, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_and_reject, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_inequivalent_declare, s_setup, s_teardown),
        cmocka_unit_test(test_urls_and_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
