/*  =========================================================================
    svc_log_test - JSON lines, level gating, escaping and threads

    Every test writes to an in-memory stream and parses each line back with
    jansson, so it checks what an operator's log pipeline would see.
    =========================================================================
*/
#include "svc_classes.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

//  Threads and lines per thread of the concurrency test.
#define TEST_THREADS 8
#define TEST_LINES_PER_THREAD 500

//  Padding per concurrent line, so that torn writes would be likely.
#define TEST_PAD_SIZE 300

//  A stream writing into memory, read back after fflush.
typedef struct {
    char *buffer; //  owned by the stream until fclose, then by us
    size_t size;  //  bytes written so far
    FILE *stream; //  owned
} capture_t;

//  Arguments of one writer thread.
typedef struct {
    const svc_log_t *log;       //  borrowed, shared by every thread
    pthread_barrier_t *barrier; //  borrowed, releases all writers together
    int thread;                 //  index of this writer
} writer_t;

//  ---------------------------------------------------------------------------
//  Open a capture stream.

static void
s_capture_open(capture_t *capture)
{
    capture->buffer = NULL;
    capture->size = 0;
    capture->stream = open_memstream(&capture->buffer, &capture->size);
    assert_non_null(capture->stream);
}

//  ---------------------------------------------------------------------------
//  Close a capture stream and free its buffer.

static void
s_capture_close(capture_t *capture)
{
    assert_int_equal(fclose(capture->stream), 0);
    freen(capture->buffer);
}

//  ---------------------------------------------------------------------------
//  Number of '\n' in the captured text so far.

static size_t
s_capture_lines(capture_t *capture)
{
    assert_int_equal(fflush(capture->stream), 0);
    size_t lines = 0;
    for (size_t index = 0; index < capture->size; index++) {
        lines += capture->buffer[index] == '\n';
    }
    return lines;
}

//  ---------------------------------------------------------------------------
//  Parse line number `wanted` (from 0) of the capture as a JSON object.
//  Caller owns return value.

static json_t *
s_capture_parse(capture_t *capture, size_t wanted)
{
    assert_true(wanted < s_capture_lines(capture));
    const char *line = capture->buffer;
    for (size_t index = 0; index < wanted; index++) {
        line = strchr(line, '\n') + 1;
    }
    size_t length = (size_t) (strchr(line, '\n') - line);
    json_error_t error;
    json_t *object = json_loadb(line, length, 0, &error);
    if (object == NULL) {
        fail_msg("line %zu is not JSON: %s", wanted, error.text);
    }
    assert_true(json_is_object(object));
    return object;
}

//  ---------------------------------------------------------------------------
//  The string value of `key` in `object`, failing if it is missing.

static const char *
s_string_at(const json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    assert_non_null(value);
    assert_true(json_is_string(value));
    return json_string_value(value);
}

//  ---------------------------------------------------------------------------
//  Assert that `ts` is RFC 3339 UTC with microseconds and close to now.

static void
s_assert_timestamp(const char *ts)
{
    regex_t pattern;
    assert_int_equal(regcomp(&pattern,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    int match = regexec(&pattern, ts, 0, NULL, 0);
    regfree(&pattern);
    assert_int_equal(match, 0);

    struct tm utc = {0};
    assert_int_equal(sscanf(ts, "%d-%d-%dT%d:%d:%d", &utc.tm_year, &utc.tm_mon, &utc.tm_mday,
                            &utc.tm_hour, &utc.tm_min, &utc.tm_sec),
                     6);
    utc.tm_year -= 1900;
    utc.tm_mon -= 1;
    time_t written = timegm(&utc);
    time_t now = time(NULL);
    assert_true(written <= now && now - written < 60);
}

//  ---------------------------------------------------------------------------
//  Counts its calls: proves whether the macro evaluated the field arguments.

static int
s_count_call(int *calls)
{
    (*calls)++;
    return *calls;
}

//  ---------------------------------------------------------------------------
//  True if `body` aborts (a failed assert) in a child process.

static bool
s_aborts(void (*body)(void))
{
    (void) fflush(stdout);
    (void) fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        //  The assert message is expected; keep the test output clean.
        if (freopen("/dev/null", "w", stderr) == NULL) {
            _exit(3);
        }
        body();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

//  ---------------------------------------------------------------------------
//  Usage: create a logger, write an event with fields, read the line back.

static void
test_usage_example(void **state)
{
    (void) state;
    capture_t capture;
    s_capture_open(&capture);
    svc_log_t *log = svc_log_new("order", "order-0", SVC_LOG_INFO, capture.stream);
    assert_non_null(log);

    const char *order_id = "3f1c2a9e-0000-4000-8000-000000000001";
    int64_t total = 12345;
    svc_log_info(log, "order.created", "{s:s, s:I, s:s}", "order_id", order_id, "total_minor",
                 (json_int_t) total, "msg", "order accepted");
    svc_log_destroy(&log);
    assert_null(log);
    svc_log_destroy(&log);

    assert_int_equal(s_capture_lines(&capture), 1);
    assert_int_equal(capture.buffer[capture.size - 1], '\n');
    json_t *line = s_capture_parse(&capture, 0);
    s_assert_timestamp(s_string_at(line, "ts"));
    assert_string_equal(s_string_at(line, "level"), "info");
    assert_string_equal(s_string_at(line, "svc"), "order");
    assert_string_equal(s_string_at(line, "instance"), "order-0");
    assert_string_equal(s_string_at(line, "event"), "order.created");
    assert_string_equal(s_string_at(line, "order_id"), order_id);
    assert_int_equal(json_integer_value(json_object_get(line, "total_minor")), 12345);
    assert_string_equal(s_string_at(line, "msg"), "order accepted");

    //  Keys come in the documented order, the caller's fields last.
    const char *expected[] = {"ts",    "level",    "svc",         "instance",
                              "event", "order_id", "total_minor", "msg"};
    size_t index = 0;
    const char *key;
    json_t *value;
    json_object_foreach(line, key, value)
    {
        assert_true(index < sizeof(expected) / sizeof(expected[0]));
        assert_string_equal(key, expected[index]);
        index++;
    }
    assert_int_equal(index, sizeof(expected) / sizeof(expected[0]));
    //  And the text is compact: no spaces between tokens.
    assert_non_null(strstr(capture.buffer, "\",\"level\":\"info\",\"svc\":\"order\","));
    json_decref(line);
    s_capture_close(&capture);
}

//  ---------------------------------------------------------------------------
//  A disabled level writes nothing and does not evaluate its arguments.

static void
test_gating_skips_formatting(void **state)
{
    (void) state;
    capture_t capture;
    s_capture_open(&capture);
    svc_log_t *log = svc_log_new("order", "order-0", SVC_LOG_INFO, capture.stream);
    int calls = 0;

    svc_log_debug(log, "test.debug", "{s:i}", "n", s_count_call(&calls));
    assert_int_equal(calls, 0);
    assert_int_equal(s_capture_lines(&capture), 0);
    assert_int_equal(capture.size, 0);

    svc_log_info(log, "test.info", "{s:i}", "n", s_count_call(&calls));
    svc_log_warn(log, "test.warn", "{s:i}", "n", s_count_call(&calls));
    svc_log_error(log, "test.error", "{s:i}", "n", s_count_call(&calls));
    assert_int_equal(calls, 3);
    assert_int_equal(s_capture_lines(&capture), 3);
    json_t *line = s_capture_parse(&capture, 2);
    assert_string_equal(s_string_at(line, "level"), "error");
    assert_int_equal(json_integer_value(json_object_get(line, "n")), 3);
    json_decref(line);
    svc_log_destroy(&log);

    //  At debug level the same debug line is formatted and written.
    log = svc_log_new("order", "order-0", SVC_LOG_DEBUG, capture.stream);
    svc_log_debug(log, "test.debug", "{s:i}", "n", s_count_call(&calls));
    assert_int_equal(calls, 4);
    assert_int_equal(s_capture_lines(&capture), 4);
    line = s_capture_parse(&capture, 3);
    assert_string_equal(s_string_at(line, "level"), "debug");
    json_decref(line);
    svc_log_destroy(&log);
    s_capture_close(&capture);
}

//  ---------------------------------------------------------------------------
//  svc_log_enabled follows the level order error < warn < info < debug.

static void
test_enabled_per_level(void **state)
{
    (void) state;
    capture_t capture;
    s_capture_open(&capture);
    svc_log_t *log = svc_log_new("billing", "b-1", SVC_LOG_WARN, capture.stream);
    assert_true(svc_log_enabled(log, SVC_LOG_ERROR));
    assert_true(svc_log_enabled(log, SVC_LOG_WARN));
    assert_false(svc_log_enabled(log, SVC_LOG_INFO));
    assert_false(svc_log_enabled(log, SVC_LOG_DEBUG));

    //  The function itself also drops a disabled line.
    svc_log_write(log, SVC_LOG_INFO, "test.info", NULL);
    assert_int_equal(s_capture_lines(&capture), 0);
    svc_log_destroy(&log);

    log = svc_log_new("billing", "b-1", SVC_LOG_ERROR, capture.stream);
    assert_true(svc_log_enabled(log, SVC_LOG_ERROR));
    assert_false(svc_log_enabled(log, SVC_LOG_WARN));
    svc_log_destroy(&log);
    s_capture_close(&capture);
}

//  ---------------------------------------------------------------------------
//  Quotes, newlines, control characters and non-ASCII text stay one line.

static void
test_escaping_keeps_one_line(void **state)
{
    (void) state;
    capture_t capture;
    s_capture_open(&capture);
    svc_log_t *log = svc_log_new("inventory", "inst \"q\"\nline2", SVC_LOG_INFO, capture.stream);
    const char *nasty = "say \"hi\"\nnext line\r\n\ttab \\ back \x01 ctl";
    const char *unicode = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\xa6 \xe2\x80\xa8";
    svc_log_info(log, "test.escape", "{s:s, s:s, s:s}", "nasty", nasty, "unicode", unicode,
                 "key \"with\"\nnewline", "v");
    svc_log_destroy(&log);

    assert_int_equal(s_capture_lines(&capture), 1);
    assert_int_equal(capture.buffer[capture.size - 1], '\n');
    assert_null(memchr(capture.buffer, '\r', capture.size));
    json_t *line = s_capture_parse(&capture, 0);
    assert_string_equal(s_string_at(line, "instance"), "inst \"q\"\nline2");
    assert_string_equal(s_string_at(line, "nasty"), nasty);
    assert_string_equal(s_string_at(line, "unicode"), unicode);
    assert_string_equal(s_string_at(line, "key \"with\"\nnewline"), "v");
    json_decref(line);
    s_capture_close(&capture);
}

//  ---------------------------------------------------------------------------
//  Caller fields named like reserved keys are renamed, never overwrite.

static void
test_reserved_keys_are_kept(void **state)
{
    (void) state;
    capture_t capture;
    s_capture_open(&capture);
    svc_log_t *log = svc_log_new("order", "order-0", SVC_LOG_INFO, capture.stream);
    svc_log_info(log, "order.cancelled", "{s:s, s:s, s:s, s:s, s:s, s:i}", "event", "theirs", "ts",
                 "yesterday", "level", "fatal", "svc", "other", "instance", "x", "n", 7);
    svc_log_destroy(&log);

    json_t *line = s_capture_parse(&capture, 0);
    assert_int_equal(json_object_size(line), 11);
    assert_string_equal(s_string_at(line, "event"), "order.cancelled");
    assert_string_equal(s_string_at(line, "level"), "info");
    assert_string_equal(s_string_at(line, "svc"), "order");
    assert_string_equal(s_string_at(line, "instance"), "order-0");
    s_assert_timestamp(s_string_at(line, "ts"));
    assert_string_equal(s_string_at(line, "field_event"), "theirs");
    assert_string_equal(s_string_at(line, "field_ts"), "yesterday");
    assert_string_equal(s_string_at(line, "field_level"), "fatal");
    assert_string_equal(s_string_at(line, "field_svc"), "other");
    assert_string_equal(s_string_at(line, "field_instance"), "x");
    assert_int_equal(json_integer_value(json_object_get(line, "n")), 7);
    json_decref(line);
    s_capture_close(&capture);
}

//  ---------------------------------------------------------------------------
//  NULL fields write exactly the five keys of our own.

static void
test_no_fields(void **state)
{
    (void) state;
    capture_t capture;
    s_capture_open(&capture);
    svc_log_t *log = svc_log_new("shim", "shim-0", SVC_LOG_DEBUG, capture.stream);
    svc_log_warn(log, "shim.amqp.reconnect", NULL);
    svc_log_destroy(&log);

    json_t *line = s_capture_parse(&capture, 0);
    assert_int_equal(json_object_size(line), 5);
    assert_string_equal(s_string_at(line, "level"), "warn");
    assert_string_equal(s_string_at(line, "event"), "shim.amqp.reconnect");
    json_decref(line);
    s_capture_close(&capture);
}

//  ---------------------------------------------------------------------------
//  A value jansson cannot encode (bad UTF-8 from the wire, a NULL string)
//  still produces a line, with fields_error instead of the fields.

static void
test_unencodable_value_still_logged(void **state)
{
    (void) state;
    capture_t capture;
    s_capture_open(&capture);
    svc_log_t *log = svc_log_new("order", "order-0", SVC_LOG_INFO, capture.stream);
    svc_log_warn(log, "bus.frame.malformed", "{s:s, s:i}", "topic", "ord\xff\xfe", "seq", 4);
    svc_log_warn(log, "bus.frame.malformed", "{s:s}", "topic", (const char *) NULL);
    svc_log_warn(log, "bus.frame.malformed", "{s:s?, s:s*}", "a", (const char *) NULL, "b",
                 (const char *) NULL);
    svc_log_destroy(&log);

    assert_int_equal(s_capture_lines(&capture), 3);
    json_t *line = s_capture_parse(&capture, 0);
    assert_string_equal(s_string_at(line, "event"), "bus.frame.malformed");
    assert_non_null(strstr(s_string_at(line, "fields_error"), "UTF-8"));
    assert_null(json_object_get(line, "seq"));
    json_decref(line);
    line = s_capture_parse(&capture, 1);
    assert_non_null(strstr(s_string_at(line, "fields_error"), "NULL"));
    json_decref(line);
    //  The nullable forms are the way to log a possibly NULL string.
    line = s_capture_parse(&capture, 2);
    assert_true(json_is_null(json_object_get(line, "a")));
    assert_null(json_object_get(line, "b"));
    assert_null(json_object_get(line, "fields_error"));
    json_decref(line);
    s_capture_close(&capture);
}

//  ---------------------------------------------------------------------------
//  Writes with a malformed fields format (run in a child process).

static void
s_write_bad_format(void)
{
    svc_log_t *log = svc_log_new("order", "order-0", SVC_LOG_INFO, stdout);
    svc_log_info(log, "test.bad", "{s:q}", "n", 1);
    svc_log_destroy(&log);
}

//  ---------------------------------------------------------------------------
//  Writes with a format that is not an object (run in a child process).

static void
s_write_array_format(void)
{
    svc_log_t *log = svc_log_new("order", "order-0", SVC_LOG_INFO, stdout);
    svc_log_info(log, "test.bad", "[s]", "n");
    svc_log_destroy(&log);
}

//  ---------------------------------------------------------------------------
//  Writes a well-formed line (run in a child process).

static void
s_write_good_format(void)
{
    FILE *sink = fopen("/dev/null", "w");
    svc_log_t *log = svc_log_new("order", "order-0", SVC_LOG_INFO, sink);
    svc_log_info(log, "test.good", "{s:i}", "n", 1);
    svc_log_destroy(&log);
    (void) fclose(sink);
}

//  ---------------------------------------------------------------------------
//  A malformed format is a programmer error and asserts.

static void
test_bad_format_asserts(void **state)
{
    (void) state;
    assert_true(s_aborts(s_write_bad_format));
    assert_true(s_aborts(s_write_array_format));
    assert_false(s_aborts(s_write_good_format));
}

//  ---------------------------------------------------------------------------
//  Level names round-trip; anything else is -1.

static void
test_level_parse_and_name(void **state)
{
    (void) state;
    for (int level = SVC_LOG_ERROR; level <= SVC_LOG_DEBUG; level++) {
        const char *name = svc_log_level_name((svc_log_level_t) level);
        assert_int_equal(svc_log_level_parse(name), level);
    }
    assert_string_equal(svc_log_level_name(SVC_LOG_ERROR), "error");
    assert_string_equal(svc_log_level_name(SVC_LOG_WARN), "warn");
    assert_string_equal(svc_log_level_name(SVC_LOG_INFO), "info");
    assert_string_equal(svc_log_level_name(SVC_LOG_DEBUG), "debug");
    assert_int_equal(svc_log_level_parse("warning"), -1);
    assert_int_equal(svc_log_level_parse("INFO"), -1);
    assert_int_equal(svc_log_level_parse(""), -1);
    assert_int_equal(svc_log_level_parse("info "), -1);
}

//  ---------------------------------------------------------------------------
//  Names that are not UTF-8 (bad configuration) give no logger.

static void
test_new_rejects_invalid_names(void **state)
{
    (void) state;
    assert_null(svc_log_new("ord\xc3", "order-0", SVC_LOG_INFO, stdout));
    assert_null(svc_log_new("order", "\xff", SVC_LOG_INFO, stdout));
}

//  ---------------------------------------------------------------------------
//  Writer thread: waits for every writer, then writes its lines.

static void *
s_writer(void *args)
{
    writer_t *writer = (writer_t *) args;
    char pad[TEST_PAD_SIZE + 1];
    memset(pad, 'a' + writer->thread, TEST_PAD_SIZE);
    pad[TEST_PAD_SIZE] = '\0';
    pthread_barrier_wait(writer->barrier);
    for (int seq = 0; seq < TEST_LINES_PER_THREAD; seq++) {
        svc_log_info(writer->log, "test.thread", "{s:i, s:i, s:s}", "thread", writer->thread, "seq",
                     seq, "pad", pad);
    }
    return NULL;
}

//  ---------------------------------------------------------------------------
//  Threads sharing one logger produce only whole, parseable lines.

static void
test_concurrent_threads_write_whole_lines(void **state)
{
    (void) state;
    FILE *stream = tmpfile();
    assert_non_null(stream);
    svc_log_t *log = svc_log_new("order", "order-0", SVC_LOG_INFO, stream);
    pthread_barrier_t barrier;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, TEST_THREADS), 0);
    pthread_t threads[TEST_THREADS];
    writer_t writers[TEST_THREADS];
    for (int thread = 0; thread < TEST_THREADS; thread++) {
        writers[thread] = (writer_t){.log = log, .barrier = &barrier, .thread = thread};
        assert_int_equal(pthread_create(&threads[thread], NULL, s_writer, &writers[thread]), 0);
    }
    for (int thread = 0; thread < TEST_THREADS; thread++) {
        assert_int_equal(pthread_join(threads[thread], NULL), 0);
    }
    pthread_barrier_destroy(&barrier);
    svc_log_destroy(&log);

    //  Every line parses, and every (thread, seq) appears exactly once.
    bool seen[TEST_THREADS][TEST_LINES_PER_THREAD] = {{false}};
    size_t lines = 0;
    char *text = NULL;
    size_t capacity = 0;
    ssize_t length;
    rewind(stream);
    while ((length = getline(&text, &capacity, stream)) > 0) {
        assert_int_equal(text[length - 1], '\n');
        json_error_t error;
        json_t *line = json_loadb(text, (size_t) length - 1, 0, &error);
        assert_non_null(line);
        json_int_t thread = json_integer_value(json_object_get(line, "thread"));
        json_int_t seq = json_integer_value(json_object_get(line, "seq"));
        assert_in_range(thread, 0, TEST_THREADS - 1);
        assert_in_range(seq, 0, TEST_LINES_PER_THREAD - 1);
        assert_false(seen[thread][seq]);
        seen[thread][seq] = true;
        assert_int_equal(strlen(s_string_at(line, "pad")), TEST_PAD_SIZE);
        json_decref(line);
        lines++;
    }
    freen(text);
    assert_int_equal(lines, TEST_THREADS * TEST_LINES_PER_THREAD);
    assert_int_equal(fclose(stream), 0);
}

static void
test_error_set(void **state)
{
    (void) state;
    svc_error_set(NULL, "nobody asked %d", 1); //  no message wanted: nothing happens
    char *error = NULL;
    svc_error_set(&error, "connect %s: %d", "db", 5);
    assert_string_equal(error, "connect db: 5");
    svc_error_set(&error, "replaced"); //  the old message is freed (ASan would say)
    assert_string_equal(error, "replaced");
    zstr_free(&error);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_gating_skips_formatting),
        cmocka_unit_test(test_enabled_per_level),
        cmocka_unit_test(test_escaping_keeps_one_line),
        cmocka_unit_test(test_reserved_keys_are_kept),
        cmocka_unit_test(test_no_fields),
        cmocka_unit_test(test_unencodable_value_still_logged),
        cmocka_unit_test(test_bad_format_asserts),
        cmocka_unit_test(test_level_parse_and_name),
        cmocka_unit_test(test_error_set),
        cmocka_unit_test(test_new_rejects_invalid_names),
        cmocka_unit_test(test_concurrent_threads_write_whole_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
