/*  =========================================================================
    ts_proc - test support: a service executable run as a real process

    fork + execve with a prepared argument vector and environment: between
    the two the child calls only async-signal-safe functions, because the
    test that forks may have client threads running (libcurl, libpq). The
    child's stdout and stderr go to one log file opened for appending, so
    a restarted process adds to the story of the one before it, and every
    other inherited descriptor is closed so a service never holds the
    test's sockets.
    =========================================================================
*/
//  close_range and environ are GNU: ask for them before any header is read.
#define _GNU_SOURCE
#include <czmq.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <curl/curl.h>

#undef NDEBUG
#include <assert.h>

#include "ts.h"
#include "ts_proc.h"

//  Most arguments and overriding variables a process is given.
#define TS_PROC_ARGS_MAX 32
#define TS_PROC_ENV_MAX 64

//  One readiness probe may take this long before the next one.
#define TS_PROC_PROBE_MS 1000

//  Attempts at a free run of ports before giving up.
#define TS_PROC_PORT_TRIES 500

//  Largest log file ts_proc_log_read returns whole.
#define TS_PROC_LOG_MAX ((size_t) 256 * 1024 * 1024)

struct ts_proc {
    char *path;                       //  the executable (owned)
    char *argv[TS_PROC_ARGS_MAX + 2]; //  argv[0] = path, then args, NULL (owned strings)
    char *env[TS_PROC_ENV_MAX + 1];   //  overriding "NAME=value", NULL-terminated (owned)
    char *log_path;                   //  stdout and stderr go here (owned)
    pid_t pid;                        //  the running child, or 0
    int exit_code;                    //  how the last run ended, -1 while none ended
    int starts;                       //  runs so far
};

//  ---------------------------------------------------------------------
//  Fail the test: say why on stderr and abort.

static void
s_fail(const char *what, const char *detail)
{
    (void) fprintf(stderr, "ts_proc: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    (void) fflush(stderr);
    abort();
}

//  ---------------------------------------------------------------------
//  A wait status as one number: the exit code, or 128 + the signal.

static int
s_exit_code(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

//  ---------------------------------------------------------------------

ts_proc_t *
ts_proc_new(const char *path, const char *const *args, const char *const *env, const char *log_path)
{
    assert(path);
    assert(log_path);
    ts_proc_t *self = (ts_proc_t *) zmalloc(sizeof *self);
    self->path = strdup(path);
    self->argv[0] = strdup(path);
    for (size_t index = 0; args && args[index]; index++) {
        assert(index < TS_PROC_ARGS_MAX);
        self->argv[index + 1] = strdup(args[index]);
    }
    for (size_t index = 0; env && env[index]; index++) {
        const char *equals = strchr(env[index], '=');
        assert(equals && equals > env[index]);
        char *name = zsys_sprintf("%.*s", (int) (equals - env[index]), env[index]);
        ts_proc_setenv(self, name, equals + 1);
        zstr_free(&name);
    }
    self->log_path = strdup(log_path);
    self->exit_code = -1;
    return self;
}

//  ---------------------------------------------------------------------

void
ts_proc_destroy(ts_proc_t **self_p)
{
    assert(self_p);
    ts_proc_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->pid > 0) {
        (void) ts_proc_kill(self);
    }
    freen(self->log_path);
    for (size_t index = 0; self->env[index]; index++) {
        freen(self->env[index]);
    }
    for (size_t index = 0; self->argv[index]; index++) {
        freen(self->argv[index]);
    }
    freen(self->path);
    freen(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  True if "NAME=value" `entry` sets variable `name` (length `length`).

static bool
s_env_names(const char *entry, const char *name, size_t length)
{
    return strncmp(entry, name, length) == 0 && entry[length] == '=';
}

//  ---------------------------------------------------------------------

void
ts_proc_setenv(ts_proc_t *self, const char *name, const char *value)
{
    assert(self);
    assert(name && *name && !strchr(name, '='));
    assert(value);
    size_t length = strlen(name);
    size_t index = 0;
    while (self->env[index] && !s_env_names(self->env[index], name, length)) {
        index++;
    }
    assert(index < TS_PROC_ENV_MAX);
    freen(self->env[index]);
    self->env[index] = zsys_sprintf("%s=%s", name, value);
}

//  ---------------------------------------------------------------------
//  The child's environment: ours without the overridden names, then the
//  overrides. Only the array is allocated; the strings are borrowed.

static char **
s_envp_new(ts_proc_t *self)
{
    size_t inherited = 0;
    while (environ[inherited]) {
        inherited++;
    }
    char **envp = (char **) zmalloc((inherited + TS_PROC_ENV_MAX + 1) * sizeof *envp);
    size_t used = 0;
    for (size_t index = 0; index < inherited; index++) {
        const char *equals = strchr(environ[index], '=');
        size_t length = equals ? (size_t) (equals - environ[index]) : strlen(environ[index]);
        bool overridden = false;
        for (size_t own = 0; self->env[own] && !overridden; own++) {
            overridden = s_env_names(self->env[own], environ[index], length);
        }
        if (!overridden) {
            envp[used++] = environ[index];
        }
    }
    for (size_t own = 0; self->env[own]; own++) {
        envp[used++] = self->env[own];
    }
    return envp;
}

//  ---------------------------------------------------------------------
//  In the child, between fork and exec: async-signal-safe calls only.
//  Die with the parent, take the log as stdout and stderr and /dev/null as
//  stdin, close everything else, reset the signal state and exec.

static void
s_child_exec(ts_proc_t *self, char **envp, int log_fd, int null_fd, pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
        _exit(TS_PROC_EXEC_FAILED);
    }
    if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
        dup2(log_fd, STDERR_FILENO) < 0) {
        _exit(TS_PROC_EXEC_FAILED);
    }
    (void) close_range(STDERR_FILENO + 1, ~0U, 0);
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    (void) sigaction(SIGPIPE, &fallback, NULL);
    (void) sigaction(SIGTERM, &fallback, NULL);
    (void) sigaction(SIGINT, &fallback, NULL);
    sigset_t none;
    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);
    execve(self->path, self->argv, envp);
    _exit(TS_PROC_EXEC_FAILED);
}

//  ---------------------------------------------------------------------

void
ts_proc_start(ts_proc_t *self)
{
    assert(self);
    assert(!ts_proc_running(self));
    int log_fd = open(self->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        s_fail("cannot open the log file", strerror(errno));
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) {
        s_fail("cannot open /dev/null", strerror(errno));
    }
    char **envp = s_envp_new(self);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        s_fail("fork failed", strerror(errno));
    }
    if (child == 0) {
        s_child_exec(self, envp, log_fd, null_fd, parent);
    }
    freen(envp);
    close(null_fd);
    close(log_fd);
    self->pid = child;
    self->exit_code = -1;
    self->starts++;
}

//  ---------------------------------------------------------------------

bool
ts_proc_running(ts_proc_t *self)
{
    assert(self);
    if (self->pid <= 0) {
        return false;
    }
    int status = 0;
    pid_t reaped = waitpid(self->pid, &status, WNOHANG);
    if (reaped == 0) {
        return true;
    }
    self->exit_code = reaped == self->pid ? s_exit_code(status) : -1;
    self->pid = 0;
    return false;
}

//  ---------------------------------------------------------------------

pid_t
ts_proc_pid(const ts_proc_t *self)
{
    assert(self);
    return self->pid;
}

//  ---------------------------------------------------------------------
//  libcurl write callback: readiness bodies are not kept.

static size_t
s_discard(char *data, size_t size, size_t count, void *userp)
{
    (void) data;
    (void) userp;
    return size * count;
}

typedef struct {
    ts_proc_t *proc; //  the process awaited (borrowed)
    CURL *curl;      //  the probe, set up once (borrowed)
    bool ready;      //  the last probe answered 200
} ready_wait_t;

//  ---------------------------------------------------------------------
//  Stop waiting when the process answered 200 or is gone.

static bool
s_ready_or_gone(void *arg)
{
    ready_wait_t *wait = (ready_wait_t *) arg;
    if (!ts_proc_running(wait->proc)) {
        return true;
    }
    long status = 0;
    if (curl_easy_perform(wait->curl) == CURLE_OK) {
        curl_easy_getinfo(wait->curl, CURLINFO_RESPONSE_CODE, &status);
    }
    wait->ready = status == 200;
    return wait->ready;
}

//  ---------------------------------------------------------------------
//  Probes are quiet (a service that is still binding refuses connections
//  many times before it answers); only the verdict is printed.

int
ts_proc_wait_ready(ts_proc_t *self, const char *url, int timeout_ms)
{
    assert(self);
    assert(url);
    assert(timeout_ms > 0);
    CURL *curl = curl_easy_init();
    assert(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) TS_PROC_PROBE_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_discard);
    ready_wait_t wait = {self, curl, false};
    (void) ts_wait_until(s_ready_or_gone, &wait, timeout_ms);
    curl_easy_cleanup(curl);
    if (wait.ready) {
        return 0;
    }
    char *why = ts_proc_running(self)
                    ? zsys_sprintf("%s not ready at %s within %d ms", self->path, url, timeout_ms)
                    : zsys_sprintf("%s exited with %d before it was ready at %s", self->path,
                                   self->exit_code, url);
    ts_proc_log_dump(self, why, 20);
    zstr_free(&why);
    return -1;
}

//  ---------------------------------------------------------------------

static bool
s_gone(void *arg)
{
    return !ts_proc_running((ts_proc_t *) arg);
}

//  ---------------------------------------------------------------------

int
ts_proc_term(ts_proc_t *self, int timeout_ms)
{
    assert(self);
    assert(timeout_ms > 0);
    if (!ts_proc_running(self)) {
        return self->exit_code;
    }
    int rc = kill(self->pid, SIGTERM);
    assert(rc == 0);
    if (ts_wait_until(s_gone, self, timeout_ms)) {
        return self->exit_code;
    }
    char *why = zsys_sprintf("%s still running %d ms after SIGTERM", self->path, timeout_ms);
    ts_proc_log_dump(self, why, 20);
    zstr_free(&why);
    (void) ts_proc_kill(self);
    return TS_PROC_TIMEOUT;
}

//  ---------------------------------------------------------------------
//  SIGKILL cannot be caught: the blocking wait ends as soon as the kernel
//  has torn the process down.

int
ts_proc_kill(ts_proc_t *self)
{
    assert(self);
    if (!ts_proc_running(self)) {
        return -1;
    }
    int rc = kill(self->pid, SIGKILL);
    assert(rc == 0);
    int status = 0;
    pid_t reaped = waitpid(self->pid, &status, 0);
    assert(reaped == self->pid);
    self->exit_code = s_exit_code(status);
    self->pid = 0;
    return self->exit_code == 128 + SIGKILL ? 0 : -1;
}

//  ---------------------------------------------------------------------

void
ts_proc_restart(ts_proc_t *self)
{
    assert(self);
    (void) ts_proc_kill(self);
    ts_proc_start(self);
}

//  ---------------------------------------------------------------------

int
ts_proc_exit_code(const ts_proc_t *self)
{
    assert(self);
    return self->exit_code;
}

//  ---------------------------------------------------------------------

int
ts_proc_starts(const ts_proc_t *self)
{
    assert(self);
    return self->starts;
}

//  ---------------------------------------------------------------------

const char *
ts_proc_log_path(const ts_proc_t *self)
{
    assert(self);
    return self->log_path;
}

//  ---------------------------------------------------------------------

char *
ts_proc_log_read(const ts_proc_t *self)
{
    assert(self);
    FILE *file = fopen(self->log_path, "rb");
    if (!file) {
        return strdup("");
    }
    size_t capacity = (size_t) 64 * 1024;
    size_t used = 0;
    char *text = (char *) zmalloc(capacity + 1);
    size_t got = 0;
    while ((got = fread(text + used, 1, capacity - used, file)) > 0) {
        used += got;
        if (used == capacity) {
            if (capacity >= TS_PROC_LOG_MAX) {
                s_fail("log file too large", self->log_path);
            }
            capacity *= 2;
            text = (char *) realloc(text, capacity + 1);
            assert(text);
        }
    }
    (void) fclose(file);
    text[used] = '\0';
    return text;
}

//  ---------------------------------------------------------------------

void
ts_proc_log_dump(const ts_proc_t *self, const char *why, int lines)
{
    assert(self);
    assert(why);
    assert(lines > 0);
    char *text = ts_proc_log_read(self);
    //  Walk back from the end over `lines` line ends; a final one ends the
    //  last line and does not count.
    size_t length = strlen(text);
    size_t start = length > 0 && text[length - 1] == '\n' ? length - 1 : length;
    int seen = 0;
    while (start > 0 && !(text[start - 1] == '\n' && ++seen == lines)) {
        start--;
    }
    bool ends_line = length == 0 || text[length - 1] == '\n';
    (void) fprintf(stderr, "ts_proc: %s; last lines of %s:\n%s%s", why, self->log_path,
                   text + start, ends_line ? "" : "\n");
    (void) fflush(stderr);
    freen(text);
}

//  ---------------------------------------------------------------------
//  True if nobody listens on 127.0.0.1:port (we can bind it).

static bool
s_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        s_fail("socket failed", strerror(errno));
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool free_port = bind(fd, (struct sockaddr *) &address, sizeof address) == 0;
    close(fd);
    return free_port;
}

//  ---------------------------------------------------------------------

int
ts_proc_port_new(int count)
{
    assert(count >= 1 && count < 100);
    for (int tries = 0; tries < TS_PROC_PORT_TRIES; tries++) {
        uint32_t draw = 0;
        if (getrandom(&draw, sizeof draw, 0) != (ssize_t) sizeof draw) {
            s_fail("getrandom failed", strerror(errno));
        }
        int port = TS_PROC_PORT_LOW + (int) (draw % (TS_PROC_PORT_HIGH - TS_PROC_PORT_LOW - count));
        int next = 0;
        while (next < count && s_port_free(port + next)) {
            next++;
        }
        if (next == count) {
            return port;
        }
    }
    s_fail("no free ports", "below the ephemeral range");
    return -1;
}
