/*  =========================================================================
    ts_proc_test - the process harness against small real processes

    The service stand-in is this binary run as a child:

        ts_proc_test --serve PORT NOT_READY EXIT_CODE

    It prints a greeting with $GREETING on stdout and a line on stderr,
    answers HTTP requests on 127.0.0.1:PORT (503 for the first NOT_READY,
    then 200), and on SIGTERM prints "terminating" and exits EXIT_CODE.
    Other cases use /bin/sh for processes that exit early or ignore
    SIGTERM.
    =========================================================================
*/
#define _GNU_SOURCE
#include "ts.h"
#include "ts_proc.h"

#include <czmq.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define WAIT_MS 20000

//  --------------------------------------------------------------------------
//  The child: a tiny HTTP responder

static volatile sig_atomic_t s_terminated;

static void
s_on_term(int signal_number)
{
    (void) signal_number;
    s_terminated = 1;
}

//  Read a request head (bounded) and answer it; `ready` picks 200 or 503.
static void
s_answer(int fd, bool ready)
{
    char request[4096];
    size_t used = 0;
    while (used < sizeof request - 1) {
        ssize_t got = read(fd, request + used, sizeof request - 1 - used);
        if (got <= 0) {
            break;
        }
        used += (size_t) got;
        request[used] = '\0';
        if (strstr(request, "\r\n\r\n")) {
            break;
        }
    }
    const char *answer = ready ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                 "Connection: close\r\n\r\nok"
                               : "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 8\r\n"
                                 "Connection: close\r\n\r\nstarting";
    (void) write(fd, answer, strlen(answer));
}

static int
s_serve(int port, int not_ready, int exit_code)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = s_on_term; //  no SA_RESTART: poll returns EINTR
    sigaction(SIGTERM, &action, NULL);
    printf("serving %s\n", getenv("GREETING") ? getenv("GREETING") : "(none)");
    (void) fflush(stdout);
    (void) fprintf(stderr, "a line on stderr\n");
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *) &address, sizeof address) || listen(listener, 16)) {
        return 3;
    }
    int answered = 0;
    while (!s_terminated) {
        struct pollfd item = {.fd = listener, .events = POLLIN};
        if (poll(&item, 1, -1) == 1) {
            int fd = accept(listener, NULL, NULL);
            if (fd >= 0) {
                s_answer(fd, answered++ >= not_ready);
                close(fd);
            }
        }
    }
    printf("terminating\n");
    (void) fflush(stdout);
    close(listener);
    return exit_code;
}

//  --------------------------------------------------------------------------
//  Helpers

typedef struct {
    char *dir;      //  temporary directory (owned)
    char *log_path; //  the child's log (owned)
    char *self;     //  this binary (owned)
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->dir = ts_tmpdir_new();
    fixture->log_path = zsys_sprintf("%s/child.log", fixture->dir);
    char path[4096];
    ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    assert_true(length > 0);
    path[length] = '\0';
    fixture->self = strdup(path);
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    freen(fixture->self);
    zstr_free(&fixture->log_path);
    ts_tmpdir_remove(&fixture->dir);
    freen(fixture);
    return 0;
}

static bool
s_gone(void *arg)
{
    return !ts_proc_running((ts_proc_t *) arg);
}

//  Count the occurrences of `needle` in the process's log.
static int
s_log_count(ts_proc_t *proc, const char *needle)
{
    char *text = ts_proc_log_read(proc);
    int count = 0;
    for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle)) {
        count++;
    }
    freen(text);
    return count;
}

//  --------------------------------------------------------------------------
//  Cases

//  The usage example: start, wait for readiness through 503s, SIGTERM with
//  its exit code, restart, SIGKILL; the log holds both runs.
static void
test_start_ready_term_restart_kill(void **state)
{
    fixture_t *fixture = *state;
    int port = ts_proc_port_new(1);
    char port_text[16];
    (void) snprintf(port_text, sizeof port_text, "%d", port);
    const char *args[] = {"--serve", port_text, "3", "0", NULL};
    const char *env[] = {"GREETING=hello", NULL};
    ts_proc_t *proc = ts_proc_new(fixture->self, args, env, fixture->log_path);
    assert_false(ts_proc_running(proc));
    assert_int_equal(ts_proc_exit_code(proc), -1);

    ts_proc_start(proc);
    assert_true(ts_proc_running(proc));
    assert_true(ts_proc_pid(proc) > 0);
    char *url = zsys_sprintf("http://127.0.0.1:%d/readyz", port);
    assert_int_equal(ts_proc_wait_ready(proc, url, WAIT_MS), 0);
    assert_int_equal(ts_proc_term(proc, WAIT_MS), 0);
    assert_false(ts_proc_running(proc));
    assert_int_equal(ts_proc_pid(proc), 0);
    assert_int_equal(s_log_count(proc, "serving hello\n"), 1);
    assert_int_equal(s_log_count(proc, "a line on stderr\n"), 1);
    assert_int_equal(s_log_count(proc, "terminating\n"), 1);
    //  Nothing to kill now.
    assert_int_equal(ts_proc_kill(proc), -1);

    //  Same arguments, environment and log; the exit code is the child's.
    ts_proc_setenv(proc, "GREETING", "again");
    ts_proc_restart(proc);
    assert_int_equal(ts_proc_wait_ready(proc, url, WAIT_MS), 0);
    assert_int_equal(ts_proc_kill(proc), 0);
    assert_int_equal(ts_proc_exit_code(proc), 128 + SIGKILL);
    assert_int_equal(ts_proc_starts(proc), 2);
    assert_int_equal(s_log_count(proc, "serving hello\n"), 1);
    assert_int_equal(s_log_count(proc, "serving again\n"), 1);
    assert_int_equal(s_log_count(proc, "terminating\n"), 1);

    //  A running process is killed by destroy.
    ts_proc_start(proc);
    assert_int_equal(ts_proc_wait_ready(proc, url, WAIT_MS), 0);
    pid_t pid = ts_proc_pid(proc);
    ts_proc_destroy(&proc);
    assert_null(proc);
    assert_int_equal(kill(pid, 0), -1);
    zstr_free(&url);
}

//  The exit code a service gives on SIGTERM is reported as is.
static void
test_term_reports_exit_code(void **state)
{
    fixture_t *fixture = *state;
    int port = ts_proc_port_new(1);
    char port_text[16];
    (void) snprintf(port_text, sizeof port_text, "%d", port);
    const char *args[] = {"--serve", port_text, "0", "4", NULL};
    ts_proc_t *proc = ts_proc_new(fixture->self, args, NULL, fixture->log_path);
    ts_proc_start(proc);
    char *url = zsys_sprintf("http://127.0.0.1:%d/readyz", port);
    assert_int_equal(ts_proc_wait_ready(proc, url, WAIT_MS), 0);
    assert_int_equal(ts_proc_term(proc, WAIT_MS), 4);
    assert_int_equal(ts_proc_exit_code(proc), 4);
    assert_int_equal(s_log_count(proc, "serving (none)\n"), 1);
    zstr_free(&url);
    ts_proc_destroy(&proc);
}

//  A process that exits before it is ready ends the wait at once.
static void
test_exit_before_ready(void **state)
{
    fixture_t *fixture = *state;
    const char *args[] = {"-c", "echo oops; exit 3", NULL};
    ts_proc_t *proc = ts_proc_new("/bin/sh", args, NULL, fixture->log_path);
    ts_proc_start(proc);
    int64_t started = zclock_mono();
    int port = ts_proc_port_new(1);
    char *url = zsys_sprintf("http://127.0.0.1:%d/readyz", port);
    assert_int_equal(ts_proc_wait_ready(proc, url, WAIT_MS), -1);
    assert_true(zclock_mono() - started < WAIT_MS);
    assert_int_equal(ts_proc_exit_code(proc), 3);
    assert_int_equal(s_log_count(proc, "oops\n"), 1);
    zstr_free(&url);
    ts_proc_destroy(&proc);
}

//  An executable that is not there exits TS_PROC_EXEC_FAILED.
static void
test_exec_failure(void **state)
{
    fixture_t *fixture = *state;
    ts_proc_t *proc = ts_proc_new("/nonexistent/service", NULL, NULL, fixture->log_path);
    ts_proc_start(proc);
    assert_true(ts_wait_until(s_gone, proc, WAIT_MS));
    assert_int_equal(ts_proc_exit_code(proc), TS_PROC_EXEC_FAILED);
    ts_proc_destroy(&proc);
}

//  Our variables replace inherited ones of the same name; the rest is
//  inherited; stdout and stderr both reach the log.
static void
test_environment(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(setenv("TS_PROC_OUTER", "outer", 1), 0);
    assert_int_equal(setenv("TS_PROC_KEPT", "kept", 1), 0);
    const char *args[] = {"-c", "echo \"v=$TS_PROC_OUTER k=$TS_PROC_KEPT\"; echo err >&2", NULL};
    const char *env[] = {"TS_PROC_OUTER=inner", NULL};
    ts_proc_t *proc = ts_proc_new("/bin/sh", args, env, fixture->log_path);
    ts_proc_start(proc);
    assert_true(ts_wait_until(s_gone, proc, WAIT_MS));
    assert_int_equal(ts_proc_exit_code(proc), 0);
    assert_int_equal(s_log_count(proc, "v=inner k=kept\n"), 1);
    assert_int_equal(s_log_count(proc, "err\n"), 1);
    ts_proc_destroy(&proc);
    unsetenv("TS_PROC_OUTER");
    unsetenv("TS_PROC_KEPT");
}

//  True once the process's log says "started".
static bool
s_started(void *arg)
{
    return s_log_count((ts_proc_t *) arg, "started\n") == 1;
}

//  A process that ignores SIGTERM is killed after the timeout.
static void
test_term_timeout(void **state)
{
    fixture_t *fixture = *state;
    const char *args[] = {"-c", "trap '' TERM; echo started; exec sleep 60", NULL};
    ts_proc_t *proc = ts_proc_new("/bin/sh", args, NULL, fixture->log_path);
    ts_proc_start(proc);
    //  SIGTERM before the trap is set would end the shell: wait for the line.
    assert_true(ts_wait_until(s_started, proc, WAIT_MS));
    assert_int_equal(ts_proc_term(proc, 300), TS_PROC_TIMEOUT);
    assert_false(ts_proc_running(proc));
    assert_int_equal(ts_proc_exit_code(proc), 128 + SIGKILL);
    ts_proc_destroy(&proc);
}

//  Ports are free, consecutive and below the ephemeral range.
static void
test_ports(void **state)
{
    (void) state;
    for (int round = 0; round < 20; round++) {
        int port = ts_proc_port_new(2);
        assert_true(port >= TS_PROC_PORT_LOW);
        assert_true(port + 1 <= TS_PROC_PORT_HIGH);
    }
}

int
main(int argc, char *argv[])
{
    if (argc == 5 && streq(argv[1], "--serve")) {
        return s_serve(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_ready_term_restart_kill, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_term_reports_exit_code, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_exit_before_ready, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_exec_failure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_environment, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_term_timeout, s_setup, s_teardown),
        cmocka_unit_test(test_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
