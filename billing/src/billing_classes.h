/*  =========================================================================
    billing_classes - private umbrella header of the billing service

    Every .c of billing includes this first (STYLE rule 17): asserts are
    on in every build type, czmq comes before the C library headers, then
    jansson, the service runtime and the event bus. libpq is not here: only
    billing_store.c includes it (STYLE rule 11).
    =========================================================================
*/
#ifndef BILLING_CLASSES_H_INCLUDED
#define BILLING_CLASSES_H_INCLUDED

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
