/*  =========================================================================
    shim_classes - private umbrella header of the broker shim

    Every .c of broker-shim includes this first (STYLE rule 17): asserts are
    on in every build type, czmq comes before the C library headers, then
    jansson, the service runtime, the event bus and the shim's own headers.
    librabbitmq is not here: only the AMQP class will include amqp.h.
    =========================================================================
*/
#ifndef SHIM_CLASSES_H_INCLUDED
#define SHIM_CLASSES_H_INCLUDED

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#undef NDEBUG
#include <assert.h>

#include <czmq.h>
#include <jansson.h>

#include "svc.h"
#include "bus.h"

#include "shim_rc.h"
#include "shim_time.h"
#include "shim_json.h"
#include "shim_map.h"
#include "shim_envelope.h"
#include "shim_message.h"
#include "shim_body.h"
#include "shim_masstransit.h"
#include "shim_cap.h"

#endif
