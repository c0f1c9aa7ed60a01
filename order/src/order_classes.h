/*  =========================================================================
    order_classes - private umbrella header of the order service

    Every .c of order includes this first (STYLE rule 17): asserts are on in
    every build type, czmq comes before the C library headers, then jansson,
    the service runtime and the event bus. libpq is not here: only
    order_store.c includes it (STYLE rule 11).
    =========================================================================
*/
#ifndef ORDER_CLASSES_H_INCLUDED
#define ORDER_CLASSES_H_INCLUDED

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#undef NDEBUG
#include <assert.h>

#include <czmq.h>
#include <jansson.h>

#include "svc.h"
#include "bus.h"

#endif
