/*  =========================================================================
    bus - reliable brokerless publish/subscribe over ZeroMQ and PostgreSQL

    The public umbrella header of the event-bus library: streams with a
    transactional event log, replay, subscribers with checkpoints, and the
    process host every service runs in (bus_service.h). See
    docs/protocol.md for the protocol this library speaks.
    =========================================================================
*/
#ifndef BUS_H_INCLUDED
#define BUS_H_INCLUDED

#include <czmq.h>

#define BUS_VERSION_MAJOR 0
#define BUS_VERSION_MINOR 1
#define BUS_VERSION_PATCH 0

#include "bus_rc.h"
#include "bus_envelope.h"
#include "bus_control.h"
#include "bus_live.h"
#include "bus_migrate.h"
#include "bus_keys.h"
#include "bus_stream.h"
#include "bus_replay.h"
#include "bus_inbox.h"
#include "bus_statements.h"
#include "bus_sqlarray.h"
#include "bus_subscriber.h"
#include "bus_service.h"

#endif
