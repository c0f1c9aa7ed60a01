/*  =========================================================================
    ordersctl_render - the services' answers as text for people

    Turns a parsed JSON answer into what ordersctl prints: key/value blocks
    and aligned tables (ordersctl_table.h) for each command, the pretty JSON
    of --json, and the one-line message for an error answer. Pure: it only
    writes to the FILE it is given, so tests render into memory. Fields are
    read tolerantly: a missing or unexpected field shows as "-", never as a
    failure, and every string is shown with its control characters
    replaced.

        ordersctl_render_reply(stdout, &args, body, false);
        ordersctl_render_error(stderr, "order-service", 404, body, raw, raw_size);
        //  ordersctl: order-service answered 404 not_found (field id): no such order
    =========================================================================
*/
#ifndef ORDERSCTL_RENDER_H_INCLUDED
#define ORDERSCTL_RENDER_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ordersctl_args.h"

//  Longest part of a body that is not the error shape shown in an error
//  message, in bytes.
#define ORDERSCTL_RAW_SHOWN_MAX 200
//  Widest error column of the dead-letter table, in characters.
#define ORDERSCTL_ERROR_COLUMN_MAX 60

//  Print the successful answer `body` (a JSON object) to the command of
//  `args` as tables. `replayed` says the order service answered an
//  Idempotency-Key it had seen (create only). Returns 0, or -1 if
//  writing failed.
int
ordersctl_render_reply(FILE *out, const ordersctl_args_t *args, const json_t *body, bool replayed);

//  Print `body` as pretty JSON (two-space indent, keys in the service's
//  order) and a newline. Returns 0, or -1 if writing failed.
int ordersctl_render_json(FILE *out, const json_t *body);

//  Print the line for an error answer of `service` with HTTP `status`:
//  "ordersctl: <service> answered <status> <code> (field <field>): <message>"
//  when `body` has the error shape of docs/http-api.md, else the status
//  and up to ORDERSCTL_RAW_SHOWN_MAX bytes of `raw` (the body as received,
//  `raw_size` bytes). `body` may be NULL. Returns 0, or -1 if writing
//  failed.
int ordersctl_render_error(FILE *out,
                           const char *service,
                           long status,
                           const json_t *body,
                           const char *raw,
                           size_t raw_size);

#endif
