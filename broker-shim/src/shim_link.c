/*  =========================================================================
    shim_link - one reconnecting connection inside an actor's zloop

    Two states, told apart by `fd`: up (the socket is in the loop) or down
    (a connect is pending on `timer`, or the link was never started).
    `was_lost` spans an outage, from the first failure to the next
    connect, so that a broker down for minutes logs one line, and the
    connect after it says it recovered.
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_context.h"
#include "shim_link.h"

struct shim_link {
    zloop_t *loop;                 //  the owner's loop (borrowed)
    svc_log_t *log;                //  (borrowed)
    char *lost_event;              //  "<name>.lost" (owned)
    char *unavailable_event;       //  "<name>.unavailable" (owned)
    shim_link_handlers_t handlers; //  the owner's callbacks
    void *arg;                     //  their argument (borrowed)
    int fd;                        //  the connection's socket in the loop, or -1
    int backoff_ms;                //  next reconnect delay
    int timer;                     //  pending connect, or -1
    bool was_lost;                 //  an outage was logged: log the recovery
};

static int s_link_handle_timer(zloop_t *loop, int timer_id, void *arg);

//  --------------------------------------------------------------------------

shim_link_t *
shim_link_new(zloop_t *loop,
              svc_log_t *log,
              const char *name,
              const shim_link_handlers_t *handlers,
              void *arg)
{
    assert(loop);
    assert(log);
    assert(name);
    assert(handlers);
    assert(handlers->connect && handlers->connected && handlers->readable && handlers->close);
    shim_link_t *self = zmalloc(sizeof *self);
    self->loop = loop;
    self->log = log;
    self->lost_event = zsys_sprintf("%s.lost", name);
    self->unavailable_event = zsys_sprintf("%s.unavailable", name);
    self->handlers = *handlers;
    self->arg = arg;
    self->fd = -1;
    self->backoff_ms = BUS_RECONNECT_MIN_MS;
    self->timer = -1;
    return self;
}

//  --------------------------------------------------------------------------
//  Take the socket out of the loop, if it is in.

static void
s_link_end_poller(shim_link_t *self)
{
    if (self->fd != -1) {
        zmq_pollitem_t item = {NULL, self->fd, ZMQ_POLLIN, 0};
        zloop_poller_end(self->loop, &item);
        self->fd = -1;
    }
}

//  --------------------------------------------------------------------------

void
shim_link_destroy(shim_link_t **self_p)
{
    assert(self_p);
    shim_link_t *self = *self_p;
    if (self) {
        s_link_end_poller(self);
        if (self->timer != -1) {
            zloop_timer_end(self->loop, self->timer);
        }
        zstr_free(&self->unavailable_event);
        zstr_free(&self->lost_event);
        freen(self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Connect again after the backoff, unless a connect is pending.

static void
s_link_schedule(shim_link_t *self)
{
    if (self->timer == -1) {
        self->timer = zloop_timer(self->loop, (size_t) shim_context_backoff(&self->backoff_ms), 1,
                                  s_link_handle_timer, self);
    }
}

//  --------------------------------------------------------------------------

void
shim_link_start(shim_link_t *self)
{
    assert(self);
    if (self->timer == -1) {
        self->timer = zloop_timer(self->loop, 1, 1, s_link_handle_timer, self);
    }
}

//  --------------------------------------------------------------------------

void
shim_link_lost(shim_link_t *self, const char *why, const char *error)
{
    shim_link_lost_with(self, why, error, NULL, 0);
}

void
shim_link_lost_with(
    shim_link_t *self, const char *why, const char *error, const char *field, int value)
{
    assert(self);
    assert(why);
    if (!self->was_lost && field) {
        svc_log_warn(self->log, self->lost_event, "{s:s, s:s, s:i, s:i}", "why", why, "error",
                     error ? error : "", field, value, "retry_ms", self->backoff_ms);
    } else if (!self->was_lost) {
        svc_log_warn(self->log, self->lost_event, "{s:s, s:s, s:i}", "why", why, "error",
                     error ? error : "", "retry_ms", self->backoff_ms);
    }
    self->was_lost = true;
    s_link_end_poller(self);
    self->handlers.close(self->arg);
    s_link_schedule(self);
}

//  --------------------------------------------------------------------------
//  The socket is readable.

static int
s_link_handle_socket(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    shim_link_t *self = arg;
    self->handlers.readable(self->arg);
    return 0;
}

//  --------------------------------------------------------------------------
//  Time to connect: up and in the loop, or log the failure once and try
//  again after the backoff.

static int
s_link_handle_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void) timer_id;
    shim_link_t *self = arg;
    self->timer = -1;
    char *error = NULL;
    int fd = self->handlers.connect(self->arg, &error);
    if (fd == -1) {
        if (!self->was_lost) {
            svc_log_warn(self->log, self->unavailable_event, "{s:s, s:i}", "error", error,
                         "retry_ms", self->backoff_ms);
        }
        self->was_lost = true;
        zstr_free(&error);
        s_link_schedule(self);
        return 0;
    }
    zstr_free(&error);
    zmq_pollitem_t item = {NULL, fd, ZMQ_POLLIN, 0};
    int rc = zloop_poller(loop, &item, s_link_handle_socket, self);
    assert(rc == 0);
    zloop_poller_set_tolerant(loop, &item);
    self->fd = fd;
    self->backoff_ms = BUS_RECONNECT_MIN_MS;
    //  Cleared before the owner resumes: a loss while it does is a new
    //  outage, and is logged.
    bool recovered = self->was_lost;
    self->was_lost = false;
    self->handlers.connected(self->arg, recovered);
    return 0;
}
