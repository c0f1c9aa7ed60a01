/*  =========================================================================
    bus_rc - the return codes of the event-bus library

    Functions of bus that the caller must answer differently for different
    failures return a bus_rc_t (STYLE rule 5, the nng pattern): BUS_OK is 0,
    every other value names one kind of failure, and bus_strerror turns it
    into a short English text for logs.

        bus_rc_t rc = bus_envelope_decode(data, size, &envelope);
        if (rc == BUS_MALFORMED) {
            svc_log_warn(log, "bus.frame.malformed", "{s:s}", "reason", bus_strerror(rc));
        }

    New codes are appended at the end; a code's value never changes.
    =========================================================================
*/
#ifndef BUS_RC_H_INCLUDED
#define BUS_RC_H_INCLUDED

typedef enum {
    BUS_OK = 0,         //  success
    BUS_MALFORMED,      //  bytes or values that break the contract (proto/README.md)
    BUS_UNKNOWN_TYPE,   //  a well-formed envelope whose payload type this reader does not know
    BUS_TOO_LARGE,      //  a frame larger than the bus accepts (BUS_FRAME_MAX)
    BUS_DB_UNAVAILABLE, //  the database could not be reached or the transaction failed; retry
    BUS_DUPLICATE,      //  the event or request was already applied
    BUS_TRIMMED,        //  the events asked for were removed by retention
    BUS_UNKNOWN_STREAM, //  no such stream here
    BUS_HANDLER_FAILED, //  the consumer's handler reported a failure
    BUS_CLOSED,         //  the object was shut down
    BUS_NOT_FOUND       //  no such record (a dead letter id, for example)
} bus_rc_t;

//  A short text for `rc` ("malformed frame"), or "unknown bus error" for a
//  value that is no bus_rc_t. Borrowed, static: never free it.
const char *bus_strerror(bus_rc_t rc);

#endif
