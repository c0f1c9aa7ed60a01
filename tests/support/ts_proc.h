/*  =========================================================================
    ts_proc - test support: a service executable run as a real process

    End-to-end tests run the services as the operator would: an executable
    with its configuration in the environment, its log lines on stdout,
    readiness on /readyz, SIGTERM for a clean stop and SIGKILL for a crash.
    A ts_proc_t describes one such process and can start it again after
    it stopped or was killed, with the same arguments, environment and log
    file (the log is appended to, so it tells the whole story of a test).

        const char *env[] = {"HTTP_ADDR=127.0.0.1:20001", "DATABASE_URL=...", NULL};
        ts_proc_t *proc = ts_proc_new(ORDER_SERVICE_PATH, NULL, env, "/tmp/x/order.log");
        ts_proc_start(proc);
        assert_int_equal(ts_proc_wait_ready(proc, "http://127.0.0.1:20001/readyz", 30000), 0);
        ts_proc_kill(proc);                               //  crash
        ts_proc_start(proc);                              //  and come back
        assert_int_equal(ts_proc_term(proc, 15000), 0);   //  clean exit code
        ts_proc_destroy(&proc);

    A child gets SIGKILL when the thread that started it ends
    (PR_SET_PDEATHSIG), so a test that dies or times out never leaves a
    service behind holding ports and database connections: start and
    restart processes from the test's main thread. A helper that cannot do
    its job (fork fails, log file cannot be opened) prints why on stderr
    and aborts, as the rest of tests/support does.
    =========================================================================
*/
#ifndef TS_PROC_H_INCLUDED
#define TS_PROC_H_INCLUDED

#include <stdbool.h>
#include <sys/types.h>

typedef struct ts_proc ts_proc_t;

//  Exit code ts_proc_term reports when the process did not exit in time
//  (it is then killed).
#define TS_PROC_TIMEOUT (-1)
//  Exit code of a child whose exec failed.
#define TS_PROC_EXEC_FAILED 127

//  Describe a process: executable `path`, arguments `args` after argv[0]
//  (NULL-terminated, or NULL for none), environment `env` ("NAME=value",
//  NULL-terminated, or NULL) on top of the test's own environment (a name
//  given here replaces the inherited one), stdout and stderr appended to
//  `log_path`. All strings are copied. Nothing runs yet. Caller owns
//  return value.
ts_proc_t *ts_proc_new(const char *path,
                       const char *const *args,
                       const char *const *env,
                       const char *log_path);

//  Kill the process if it still runs (SIGKILL, reaped), free everything;
//  accepts NULL and nulls the caller's pointer.
void ts_proc_destroy(ts_proc_t **self_p);

//  Set or replace one environment variable for the next start.
void ts_proc_setenv(ts_proc_t *self, const char *name, const char *value);

//  Start the process (it must not be running). Fails the test if fork or
//  the log file fails; a failed exec shows as exit code
//  TS_PROC_EXEC_FAILED.
void ts_proc_start(ts_proc_t *self);

//  True while the process runs (an exited child is reaped here and its
//  exit code kept for ts_proc_exit_code).
bool ts_proc_running(ts_proc_t *self);

//  The process id while running, else 0.
pid_t ts_proc_pid(const ts_proc_t *self);

//  Wait until GET `url` answers 200, at most `timeout_ms`. Returns 0 when
//  ready, or -1 if the process exited first or the deadline passed (then
//  it says which on stderr, with the last lines of the log).
int ts_proc_wait_ready(ts_proc_t *self, const char *url, int timeout_ms);

//  Send SIGTERM and wait at most `timeout_ms` for the process to end.
//  Returns its exit code (0..255), 128 + the signal if a signal ended it,
//  or TS_PROC_TIMEOUT if it was still running (it is then SIGKILLed).
int ts_proc_term(ts_proc_t *self, int timeout_ms);

//  SIGKILL the process and reap it. Returns 0 if it was running and died
//  of that signal, -1 if it had already exited.
int ts_proc_kill(ts_proc_t *self);

//  Start the process again: SIGKILL it first if it still runs.
void ts_proc_restart(ts_proc_t *self);

//  How the last run ended: as ts_proc_term, or -1 if it has not ended.
int ts_proc_exit_code(const ts_proc_t *self);

//  How many times the process was started.
int ts_proc_starts(const ts_proc_t *self);

//  The log file (borrowed, for the life of the ts_proc_t).
const char *ts_proc_log_path(const ts_proc_t *self);

//  The whole log file as a NUL-terminated string ("" if it is missing).
//  Caller owns return value (free).
char *ts_proc_log_read(const ts_proc_t *self);

//  Print the last `lines` lines of the log on stderr, headed by `why`.
void ts_proc_log_dump(const ts_proc_t *self, const char *why, int lines);

//  ---------------------------------------------------------------------
//  Ports

//  Lowest and highest port ts_proc_port_new draws: below Linux's ephemeral
//  range (32768 and up), so no socket bound to port 0 anywhere can take a
//  service's port while the service is down and being restarted.
#define TS_PROC_PORT_LOW 20000
#define TS_PROC_PORT_HIGH 32700

//  A port p such that p .. p + count - 1 are all free on 127.0.0.1 now,
//  drawn at random between the bounds above (a service's listen address
//  must be known before it starts: a port it picks itself cannot be read
//  from outside the process). Another test may draw the same port before
//  our service binds it; such a service exits with a bind error and can
//  be given new ports. Fails the test if no free run is found.
int ts_proc_port_new(int count);

#endif
