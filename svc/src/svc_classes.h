/*  =========================================================================
    svc_classes - private umbrella header of the service runtime

    Every .c of svc includes this first (STYLE rule 17): it turns asserts
    on whatever the build type, brings in czmq (which must precede the C
    library headers) and then the other libraries and our public headers.
    =========================================================================
*/
#ifndef SVC_CLASSES_H_INCLUDED
#define SVC_CLASSES_H_INCLUDED

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#undef NDEBUG
#include <assert.h>

#include <czmq.h>
#include <jansson.h>

#include "svc.h"

#endif
