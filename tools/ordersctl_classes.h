/*  =========================================================================
    ordersctl_classes - private umbrella header of ordersctl

    Every .c of ordersctl includes this first (STYLE rule 17): it turns
    asserts on whatever the build type, brings in czmq (which must precede
    the C library headers), jansson, and the headers of ordersctl_core.
    =========================================================================
*/
#ifndef ORDERSCTL_CLASSES_H_INCLUDED
#define ORDERSCTL_CLASSES_H_INCLUDED

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#undef NDEBUG
#include <assert.h>

#include <czmq.h>
#include <jansson.h>

#include "ordersctl_args.h"
#include "ordersctl_request.h"
#include "ordersctl_table.h"
#include "ordersctl_render.h"

#endif
