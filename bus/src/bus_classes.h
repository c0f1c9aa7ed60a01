/*  =========================================================================
    bus_classes - private umbrella header of the event-bus library

    Every .c of bus includes this first (STYLE rule 17): asserts are on in
    every build type, czmq comes before the C library headers, then libpq,
    protobuf-c contracts and the service runtime.
    =========================================================================
*/
#ifndef BUS_CLASSES_H_INCLUDED
#define BUS_CLASSES_H_INCLUDED

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#undef NDEBUG
#include <assert.h>

#include <czmq.h>
#include <libpq-fe.h>

#include "svc.h"
#include "bus_migrate.h"

#endif
