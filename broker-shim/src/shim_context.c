/*  =========================================================================
    shim_context - what the shim's two actors share with its service thread

    The backoff schedule of the actors, and the labelled counter whose
    series are made on first use, one per direction and error name.
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_context.h"

//  --------------------------------------------------------------------------

svc_counter_t *
shim_context_rejected(const shim_context_t *self, const char *direction, const char *error)
{
    assert(self);
    assert(direction);
    assert(error);
    return svc_metrics_counter(self->metrics, "shim_rejected_total",
                               "Messages the shim could not bridge, by direction and error",
                               "direction", direction, "error", error, NULL);
}

//  --------------------------------------------------------------------------

int
shim_context_backoff(int *delay_ms)
{
    assert(delay_ms);
    int delay = *delay_ms;
    *delay_ms = delay * 2 > BUS_RECONNECT_MAX_MS ? BUS_RECONNECT_MAX_MS : delay * 2;
    return delay;
}

//  --------------------------------------------------------------------------

int
shim_context_handle_pipe(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    (void) arg;
    char *command = zstr_recv(reader);
    bool terminated = !command || streq(command, "$TERM");
    zstr_free(&command);
    return terminated ? -1 : 0;
}
