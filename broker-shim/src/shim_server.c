/*  =========================================================================
    shim_server - the broker shim's hooks into bus_service

    Start reads the options into a shim_context_t (the one thing the
    actors and the handler share), then starts the relay and the consumer;
    stop ends them in the other order than they need each other: the
    consumer first (it waits for its units, which need the stream that
    bus_service closes after stop), then the relay.
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_amqp.h"
#include "shim_consumer.h"
#include "shim_context.h"
#include "shim_relay.h"
#include "shim_server.h"

#include <inttypes.h>

#include <sys/utsname.h>
#include <unistd.h>

const char *const shim_server_types[] = {
    "OrderCreated",  "OrderCancelled", "StockReserved", "StockRejected",
    "StockReleased", "PaymentStarted", "PaymentVoided", NULL};

const svc_option_t shim_server_options[] = {
    {.name = "RABBITMQ_URL",
     .type = SVC_OPT_STRING,
     .default_value = SHIM_RABBITMQ_URL_DEFAULT,
     .help = "RabbitMQ: amqp://user:password@host:port/vhost (vhost \"/\" as %2F)"},
    {.name = "SHIM_FORMAT",
     .type = SVC_OPT_STRING,
     .default_value = "masstransit",
     .choices = "masstransit|cap",
     .help = "Wire format on RabbitMQ: MassTransit v8 envelopes or DotNetCore.CAP"},
    {.name = "SHIM_MAP",
     .type = SVC_OPT_STRING,
     .default_value = "",
     .help = ".NET names per type: \"OrderCreated=[Namespace:]TypeName[@exchange], ...\""},
    {.name = "SHIM_QUEUE",
     .type = SVC_OPT_STRING,
     .default_value = SHIM_QUEUE_DEFAULT,
     .help = "The shim's durable queue; dead letters go to <queue>_error"},
    {.name = "SHIM_MARK",
     .type = SVC_OPT_STRING,
     .default_value = SHIM_MARK_DEFAULT,
     .help = "Origin mark on what the shim publishes (the same for every replica)"},
    {.name = "SHIM_WINDOW",
     .type = SVC_OPT_INT,
     .default_value = SHIM_WINDOW_DEFAULT,
     .min = 1,
     .max = SHIM_WINDOW_MAX,
     .help = "Messages published and not yet confirmed, at most; the consumer's prefetch"},
    {.name = "SHIM_CONSUME",
     .type = SVC_OPT_STRING,
     .default_value = SHIM_CONSUME_DEFAULT,
     .help = "Event types bridged from RabbitMQ: \"OrderCreated,OrderCancelled\"; \"\" or"
             " \"none\": no consumer, no queue"},
    {.name = NULL}};

//  The process's name in MassTransit's host block and the AMQP connection.
#define S_PROCESS_NAME "broker-shim"

//  Messages the handler encodes before it hands them to the relay, which
//  publishes them while the handler encodes the next.
#define S_CHUNK 64

typedef struct {
    bus_service_t *service; //  our host (borrowed)
    shim_context_t context; //  shared with the actors and the handler
    shim_map_t *map;        //  names (owned; never changed after start)
    char *broker_address;   //  MassTransit's address of the broker (owned)
    char *source_address;   //  sourceAddress of what we publish (owned)
    char *error_exchange;   //  "<queue>_error" (owned)
    char *machine_name;     //  host.machineName (owned)
    char *os_version;       //  host.operatingSystemVersion (owned)
    char *relay_endpoint;   //  inproc name of the relay's batches (owned)
    zactor_t *relay;        //  our events -> RabbitMQ (owned)
    shim_codec_t *codec;    //  the handler's, made on the subscriber's thread (owned)
    zsock_t *batches;       //  the handler's end of relay_endpoint, likewise (owned)
    zactor_t *consumer;     //  RabbitMQ -> our stream (owned), or NULL (nothing to consume)
} s_state_t;

//  --------------------------------------------------------------------------
//  A queue name MassTransit would accept (RabbitMqEntityNameValidator, in
//  ASCII), with room for the "_error" suffix.

static bool
s_queue_valid(const char *queue)
{
    size_t length = strlen(queue);
    return length > 0 && length + strlen(SHIM_ERROR_SUFFIX) <= SHIM_AMQP_NAME_MAX &&
           strspn(queue, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") ==
               length;
}

//  --------------------------------------------------------------------------

int
shim_server_check(const svc_config_t *config, char **error_out)
{
    assert(config);
    assert(error_out);
    char *why = NULL;
    shim_format_t format;
    shim_types_t consumed;
    shim_map_t *map = shim_map_new();
    if (shim_amqp_url_check(svc_config_str(config, "RABBITMQ_URL"), &why) != 0) {
        *error_out = zsys_sprintf("RABBITMQ_URL: %s", why);
    } else if (shim_format_parse(svc_config_str(config, "SHIM_FORMAT"), &format) != 0) {
        *error_out = strdup("SHIM_FORMAT: must be masstransit or cap");
    } else if (shim_map_configure(map, svc_config_str(config, "SHIM_MAP")) != 0) {
        *error_out = strdup("SHIM_MAP: not \"Type=[Namespace:]TypeName[@exchange], ...\" with"
                            " our type names, .NET identifiers and distinct names");
    } else if (!s_queue_valid(svc_config_str(config, "SHIM_QUEUE"))) {
        *error_out = zsys_sprintf("SHIM_QUEUE: must be 1-%zu characters of [A-Za-z0-9_.:-]",
                                  (size_t) SHIM_AMQP_NAME_MAX - strlen(SHIM_ERROR_SUFFIX));
    } else if (!shim_message_text_valid(svc_config_str(config, "SHIM_MARK"), SHIM_MARK_MAX)) {
        *error_out =
            zsys_sprintf("SHIM_MARK: must be 1-%d bytes of printable ASCII", SHIM_MARK_MAX);
    } else if (shim_types_parse(svc_config_str(config, "SHIM_CONSUME"), &consumed) != 0) {
        *error_out = strdup("SHIM_CONSUME: not \"Type,Type,...\" with our type names (each once),"
                            " \"\" or \"none\"");
    }
    zstr_free(&why);
    shim_map_destroy(&map);
    return *error_out ? -1 : 0;
}

//  --------------------------------------------------------------------------

int
shim_server_preflight(const bus_service_def_t *def, int argc, char **argv)
{
    assert(def);
    svc_config_t *config = svc_config_new(def->name, def->description);
    bus_service_options_add(config, def);
    if (def->options) {
        svc_config_add(config, def->options);
    }
    int exit_code = -1;
    //  Quietly: --help and invalid values are bus_service_main's to report.
    if (svc_config_load(config, argc, argv) == SVC_CONFIG_OK) {
        char *error = NULL;
        if (shim_server_check(config, &error) != 0) {
            (void) fprintf(stderr, "%s: %s\n", def->name, error);
            zstr_free(&error);
            exit_code = SVC_EXIT_CONFIG;
        }
    }
    svc_config_destroy(&config);
    return exit_code;
}

//  --------------------------------------------------------------------------
//  The host block: this machine, this process.

static void
s_state_host(s_state_t *self)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0) {
        host[0] = '\0';
    }
    self->machine_name = strdup(host);
    struct utsname system;
    self->os_version = uname(&system) == 0 ? zsys_sprintf("%s %s", system.sysname, system.release)
                                           : strdup("Unix");
    self->context.codec.host = (shim_host_t){.machine_name = self->machine_name,
                                             .process_name = S_PROCESS_NAME,
                                             .process_id = (int) getpid(),
                                             .assembly = S_PROCESS_NAME,
                                             .assembly_version = SVC_VERSION,
                                             .operating_system_version = self->os_version};
}

//  --------------------------------------------------------------------------
//  The metric handles of the context.

static void
s_state_metrics(s_state_t *self, svc_metrics_t *metrics)
{
    shim_context_t *context = &self->context;
    context->metrics = metrics;
    const char *bridged = "Messages bridged, by direction";
    context->bridged_out = svc_metrics_counter(metrics, "shim_bridged_total", bridged, "direction",
                                               "to_rabbitmq", NULL);
    context->bridged_in = svc_metrics_counter(metrics, "shim_bridged_total", bridged, "direction",
                                              "from_rabbitmq", NULL);
    context->republished =
        svc_metrics_counter(metrics, "shim_republished_total",
                            "Messages published again after a nack or a lost connection", NULL);
    const char *own = "Messages not bridged because they came from the other side";
    context->own_skipped_out = svc_metrics_counter(metrics, "shim_own_skipped_total", own,
                                                   "direction", "to_rabbitmq", NULL);
    context->own_skipped_in = svc_metrics_counter(metrics, "shim_own_skipped_total", own,
                                                  "direction", "from_rabbitmq", NULL);
    context->duplicates = svc_metrics_counter(
        metrics, "shim_duplicates_total",
        "RabbitMQ messages whose id was bridged before (redeliveries, re-publishes)", NULL);
    context->confirm_seconds = svc_metrics_histogram(metrics, "shim_confirm_seconds",
                                                     "From publish to RabbitMQ's confirm", NULL);
}

//  --------------------------------------------------------------------------

static void
s_state_destroy(s_state_t **self_p)
{
    s_state_t *self = *self_p;
    zactor_destroy(&self->consumer);
    //  The subscriber, the handler's thread, stopped before this.
    zsock_destroy(&self->batches);
    shim_codec_destroy(&self->codec);
    zactor_destroy(&self->relay);
    zstr_free(&self->relay_endpoint);
    zstr_free(&self->os_version);
    zstr_free(&self->machine_name);
    zstr_free(&self->error_exchange);
    zstr_free(&self->source_address);
    zstr_free(&self->broker_address);
    shim_map_destroy(&self->map);
    freen(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------

void *
shim_server_start(bus_service_t *service)
{
    assert(service);
    const svc_config_t *config = bus_service_config(service);
    svc_log_t *log = bus_service_log(service);
    char *error = NULL;
    if (shim_server_check(config, &error) != 0) {
        svc_log_error(log, "shim.config.invalid", "{s:s}", "error", error);
        zstr_free(&error);
        return NULL;
    }
    s_state_t *self = zmalloc(sizeof *self);
    self->service = service;
    self->map = shim_map_new();
    int rc = shim_map_configure(self->map, svc_config_str(config, "SHIM_MAP"));
    assert(rc == 0); //  checked
    shim_context_t *context = &self->context;
    context->rabbitmq_url = svc_config_str(config, "RABBITMQ_URL");
    context->stream = bus_service_stream_id(service);
    context->queue = svc_config_str(config, "SHIM_QUEUE");
    self->error_exchange = zsys_sprintf("%s%s", context->queue, SHIM_ERROR_SUFFIX);
    context->error_exchange = self->error_exchange;
    context->window = (int) svc_config_int(config, "SHIM_WINDOW");
    self->relay_endpoint = zsys_sprintf("inproc://shim-relay-%p", (void *) self);
    context->relay_endpoint = self->relay_endpoint;
    context->bus_stream = bus_service_stream(service);
    context->log = log;
    self->broker_address = shim_amqp_broker_address(context->rabbitmq_url);
    self->source_address = zsys_sprintf("%s/%s", self->broker_address, context->queue);
    rc = shim_format_parse(svc_config_str(config, "SHIM_FORMAT"), &context->codec.format);
    assert(rc == 0);
    context->codec.map = self->map;
    context->codec.broker_address = self->broker_address;
    context->codec.source_address = self->source_address;
    context->codec.mark = svc_config_str(config, "SHIM_MARK");
    context->codec.stream = context->stream;
    shim_types_t consumed = 0;
    rc = shim_types_parse(svc_config_str(config, "SHIM_CONSUME"), &consumed);
    assert(rc == 0); //  checked
    context->codec.unbound = SHIM_TYPES_ALL & ~consumed;
    s_state_host(self);
    shim_codec_t *probe = shim_codec_new(&context->codec);
    if (!probe) {
        svc_log_error(log, "shim.config.invalid", "{s:s}", "error",
                      "the broker address, mark or stream is not usable by the codec");
        s_state_destroy(&self);
        return NULL;
    }
    shim_codec_destroy(&probe);
    s_state_metrics(self, bus_service_metrics(service));
    atomic_init(&context->relay_up, false);
    atomic_init(&context->consumer_up, false);
    self->relay = zactor_new(shim_relay_actor, context);
    //  Nothing to consume: no consumer, so no queue in RabbitMQ keeps a
    //  second copy of what we publish.
    if (consumed) {
        self->consumer = zactor_new(shim_consumer_actor, context);
    }
    svc_log_info(log, "shim.started", "{s:s, s:s, s:s, s:s, s:i, s:s}", "format",
                 svc_config_str(config, "SHIM_FORMAT"), "broker", self->broker_address, "queue",
                 consumed ? context->queue : "", "mark", context->codec.mark, "window",
                 context->window, "consume",
                 consumed ? svc_config_str(config, "SHIM_CONSUME") : "");
    return self;
}

//  --------------------------------------------------------------------------

void
shim_server_stop(bus_service_t *service, void *state)
{
    assert(service);
    s_state_t *self = state;
    s_state_destroy(&self);
}

//  --------------------------------------------------------------------------

bool
shim_server_ready(bus_service_t *service, void *state, const char **reason)
{
    assert(service);
    assert(state);
    assert(reason);
    s_state_t *self = state;
    if (!atomic_load(&self->context.relay_up)) {
        *reason = "rabbitmq: the relay is not connected";
        return false;
    }
    if (self->consumer && !atomic_load(&self->context.consumer_up)) {
        *reason = "rabbitmq: the consumer is not connected";
        return false;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  The subscriber's batch handler, on the subscriber's thread, inside the
//  transaction that raises the shim's checkpoints: encode the batch
//  (except events that came from RabbitMQ), hand it to the relay in
//  chunks and wait until RabbitMQ confirmed all of it; only then may the
//  checkpoints commit. While it waits, the events that arrive join the
//  batch (bus_apply_more) and are published at once, so none waits for
//  the confirms of the events before it. RabbitMQ unavailable: the bus
//  applies the batch again later (the same message ids). An event that
//  does not encode is this event's failure: the bus retries it alone and
//  dead-letters it. Messages of chunks handed before such a failure may
//  be published: again, with the same ids, when the events are applied
//  one by one.

//  Longest wait for the relay's answer or new events in one turn.
#define S_GROW_POLL_MS 10

//  The batch's messages: encoded (`taken`), of which handed to the relay.
//  They sit in blocks of S_CHUNK that never move: the relay copies the
//  pointers of a chunk when it reads the command, later.
typedef struct {
    shim_message_t ***blocks; //  (owned array of owned blocks of owned messages)
    size_t block_count;       //  blocks allocated
    size_t taken;             //  encoded
    size_t handed;            //  of them, handed to the relay
} s_out_t;

//  The slot of message `index`.
static shim_message_t **
s_out_slot(s_out_t *out, size_t index)
{
    size_t block = index / S_CHUNK;
    if (block == out->block_count) {
        out->blocks = realloc(out->blocks, (block + 1) * sizeof *out->blocks);
        assert(out->blocks);
        out->blocks[block] = zmalloc(S_CHUNK * sizeof(shim_message_t *));
        out->block_count = block + 1;
    }
    return &out->blocks[block][index % S_CHUNK];
}

//  Hand what is encoded and not handed, a chunk (or its rest) at a time.
static void
s_out_hand(s_state_t *self, s_out_t *out)
{
    while (out->handed < out->taken) {
        size_t in_block = S_CHUNK - out->handed % S_CHUNK;
        size_t count = out->taken - out->handed < in_block ? out->taken - out->handed : in_block;
        shim_relay_publish(self->batches, s_out_slot(out, out->handed), count);
        out->handed += count;
    }
}

static void
s_out_destroy(s_out_t *out)
{
    for (size_t index = 0; index < out->taken; index++) {
        shim_message_destroy(s_out_slot(out, index));
    }
    for (size_t block = 0; block < out->block_count; block++) {
        freen(out->blocks[block]);
    }
    free(out->blocks);
}

//  Encode events onto `out`, handing each full chunk to the relay. Returns
//  0, or -1 when an event does not encode (bus_apply_fail said why).
static int
s_out_encode(s_state_t *self,
             bus_apply_t *apply,
             const Ev__V1__Envelope *const *events,
             size_t count,
             s_out_t *out)
{
    for (size_t index = 0; index < count; index++) {
        const Ev__V1__Envelope *event = events[index];
        shim_error_t error;
        shim_error_clear(&error);
        shim_message_t **slot = s_out_slot(out, out->taken);
        shim_rc_t encoded = shim_codec_encode(self->codec, event, slot, &error);
        if (encoded == SHIM_OWN_MESSAGE) {
            svc_counter_inc(self->context.own_skipped_out); //  never back to RabbitMQ
        } else if (encoded != SHIM_OK) {
            //  Counted and logged by the bus: retries, then the dead letter.
            bus_apply_fail(apply, "%s %s/%" PRIu64 ": %s (%s)", event->type, event->stream,
                           event->seq, error.reason, shim_rc_name(encoded));
            return -1;
        } else if (++out->taken % S_CHUNK == 0) {
            s_out_hand(self, out);
        }
    }
    s_out_hand(self, out);
    return 0;
}

int
shim_server_apply(bus_apply_t *apply,
                  const Ev__V1__Envelope *const *events,
                  size_t count,
                  void *arg)
{
    assert(apply);
    assert(events);
    assert(arg);
    s_state_t *self = arg;
    if (!self->batches) {
        self->codec = shim_codec_new(&self->context.codec);
        assert(self->codec); //  shim_server_start made one
        self->batches = shim_relay_connect(&self->context);
    }
    s_out_t out = {0};
    int rc = s_out_encode(self, apply, events, count, &out);
    //  Until the relay settled everything handed (the messages are its to
    //  read until then), taking what arrives while it waits.
    size_t settled = 0;
    bool asked = false;
    char *error = NULL;
    while (out.handed > settled) {
        if (rc == 0) {
            const Ev__V1__Envelope *const *more = NULL;
            size_t more_count = bus_apply_more(apply, &more);
            if (more_count > 0) {
                rc = s_out_encode(self, apply, more, more_count, &out);
            }
        }
        if (!asked) {
            shim_relay_ask(self->batches);
            asked = true;
        }
        size_t answered = 0;
        //  Wake for the answer or for events to take, whichever comes first.
        if (rc == 0 && bus_apply_wait(apply, zsock_resolve(self->batches), S_GROW_POLL_MS) == 0) {
            continue;
        }
        int answer = shim_relay_answer(self->batches, rc == 0 ? 0 : -1, &answered, &error);
        if (answer > 0) {
            settled += answered;
            asked = false;
        } else if (answer < 0) {
            shim_relay_done(self->batches);
            break;
        }
    }
    if (error && rc == 0) {
        bus_apply_unavailable(apply, "%s", error);
        rc = -1;
    }
    zstr_free(&error);
    s_out_destroy(&out);
    return rc;
}
