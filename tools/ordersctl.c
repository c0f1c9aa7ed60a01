/*  =========================================================================
    ordersctl - command-line client of the order, inventory and billing
    services

        ordersctl create --customer c-42 --currency EUR --item SKU-1:2:19.99
        ordersctl get 0193...
        ordersctl stock set SKU-1 100

    Speaks only the services' HTTP APIs (docs/http-api.md): parses the
    command line (ordersctl_args), builds the request (ordersctl_request),
    sends it (ordersctl_http) and prints the answer as tables or, with
    --json, as the service's JSON (ordersctl_render). The exit status tells
    a script what happened: 0 done, 1 the service answered an error, 2
    usage error, 3 the service did not answer.
    =========================================================================
*/
#include "ordersctl_classes.h"
#include "ordersctl_http.h"

//  ---------------------------------------------------------------------
//  Print what came back from a service that answered; returns the exit
//  status.

static int
s_report(const ordersctl_args_t *args, const ordersctl_request_t *request, ordersctl_reply_t *reply)
{
    const char *service = ordersctl_service_name(request->service);
    json_error_t error;
    json_t *body =
        reply->body_size > 0 ? json_loadb(reply->body, reply->body_size, 0, &error) : NULL;
    int status = ORDERSCTL_EXIT_SERVICE;
    if (reply->status < 200 || reply->status > 299) {
        (void) ordersctl_render_error(stderr, service, reply->status, body, reply->body,
                                      reply->body_size);
    } else if (!json_is_object(body)) {
        (void) fprintf(stderr, "ordersctl: %s answered %ld with a body that is not a JSON object\n",
                       service, reply->status);
    } else {
        int rc = args->json ? ordersctl_render_json(stdout, body)
                            : ordersctl_render_reply(stdout, args, body, reply->replayed);
        status = rc == 0 && fflush(stdout) == 0 ? ORDERSCTL_EXIT_OK : ORDERSCTL_EXIT_SERVICE;
        if (status != ORDERSCTL_EXIT_OK) {
            (void) fprintf(stderr, "ordersctl: cannot write the answer: %s\n", strerror(errno));
        }
    }
    json_decref(body);
    return status;
}

int
main(int argc, char **argv)
{
    zsys_set_logstream(stderr);
    ordersctl_args_t args;
    if (ordersctl_args_parse(&args, argc, argv, getenv) != 0) {
        (void) fprintf(stderr, "ordersctl: %s\nRun 'ordersctl%s%s --help' for usage.\n", args.error,
                       *args.name ? " " : "", args.name);
        return ORDERSCTL_EXIT_USAGE;
    }
    if (args.help) {
        (void) fputs(args.usage, stdout);
        return fflush(stdout) == 0 ? ORDERSCTL_EXIT_OK : ORDERSCTL_EXIT_SERVICE;
    }
    if (ordersctl_http_init() != 0) {
        (void) fprintf(stderr, "ordersctl: cannot initialise libcurl\n");
        return ORDERSCTL_EXIT_UNREACHABLE;
    }
    ordersctl_request_t *request = ordersctl_request_new(&args);
    ordersctl_reply_t reply;
    int status = ORDERSCTL_EXIT_UNREACHABLE;
    if (ordersctl_http_send(request, args.timeout_ms, &reply) == 0) {
        status = s_report(&args, request, &reply);
    } else {
        (void) fprintf(stderr, "ordersctl: no answer from %s at %s: %s (is it running?)\n",
                       ordersctl_service_name(request->service), args.urls[request->service],
                       reply.error);
    }
    ordersctl_reply_free(&reply);
    ordersctl_request_destroy(&request);
    ordersctl_http_term();
    return status;
}
