/*  =========================================================================
    bus_inbox - checkpoints and dead letters of a consumer group (SQL)

    Stateless functions on the caller's connection: every call is one or two
    parameterised statements whose result status is checked, and every
    failure becomes BUS_DB_UNAVAILABLE with a message (the caller logs).

    Locking a batch's checkpoints first tries a plain SELECT ... FOR UPDATE,
    which in the steady state (rows exist) is one round trip. Only when rows
    are missing does it insert them (ON CONFLICT DO NOTHING) and select
    again. It cannot do both in one statement: the statements of a WITH
    share one snapshot, so a row another replica committed after that
    snapshot would be neither inserted (conflict) nor returned (invisible),
    and the batch would re-apply events that replica already applied. The
    second SELECT takes a fresh snapshot (READ COMMITTED), so it sees every
    row the insert found or made. (At REPEATABLE READ PostgreSQL itself
    refuses such a conflict with a serialization failure.)
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_inbox.h"
#include "bus_statements.h"

#include <inttypes.h>

//  Rows of (consumer, stream) below P; partitions outside it are ignored.
static const char *s_load_sql = "SELECT partition, last_seq FROM bus_checkpoints"
                                " WHERE consumer = $1 AND stream = $2"
                                " AND partition >= 0 AND partition < $3";

//  ORDER BY comes before the row locks, so locks are taken in that order.
static const char s_lock_sql[] = "SELECT partition, last_seq FROM bus_checkpoints"
                                 " WHERE consumer = $1 AND stream = $2"
                                 " AND partition = ANY($3::int[])"
                                 " ORDER BY partition FOR UPDATE";

static const char s_create_sql[] =
    "INSERT INTO bus_checkpoints (consumer, stream, partition, last_seq)"
    " SELECT $1, $2, p, 0 FROM unnest($3::int[]) AS p ORDER BY p"
    " ON CONFLICT (consumer, stream, partition) DO NOTHING";

//  The WHERE skips writing rows that are already higher (they are still
//  locked by the DO UPDATE).
static const char s_advance_sql[] =
    "INSERT INTO bus_checkpoints (consumer, stream, partition, last_seq)"
    " SELECT $1, $2, p, $4 FROM unnest($3::int[]) AS p ORDER BY p"
    " ON CONFLICT (consumer, stream, partition) DO UPDATE"
    " SET last_seq = EXCLUDED.last_seq, updated_at = now()"
    " WHERE bus_checkpoints.last_seq < EXCLUDED.last_seq";

//  Lock as s_lock_sql and, only when all $5 rows exist, raise them to $4
//  in the same statement: the UPDATE joins the locked rows, so it writes
//  what the lock holds (under READ COMMITTED both see a row's newest
//  version once its writer committed). Returns the values as locked.
static const char s_lock_raise_sql[] =
    "WITH locked AS ("
    "  SELECT partition, last_seq FROM bus_checkpoints"
    "  WHERE consumer = $1 AND stream = $2 AND partition = ANY($3::int[])"
    "  ORDER BY partition FOR UPDATE),"
    " raised AS ("
    "  UPDATE bus_checkpoints AS c SET last_seq = $4::bigint, updated_at = now()"
    "  FROM locked WHERE c.consumer = $1 AND c.stream = $2 AND c.partition = locked.partition"
    "  AND locked.last_seq < $4::bigint AND (SELECT count(*) FROM locked) = $5::bigint)"
    " SELECT partition, last_seq FROM locked ORDER BY partition";

//  The statements of every batch, for callers that prepare them
//  (bus_inbox_statements_new); indexes below.
static const bus_statement_t s_prepared[] = {
    {.name = "bus_inbox_lock", .sql = s_lock_sql, .params = 3},
    {.name = "bus_inbox_create", .sql = s_create_sql, .params = 3},
    {.name = "bus_inbox_advance", .sql = s_advance_sql, .params = 4},
    {.name = "bus_inbox_lock_raise", .sql = s_lock_raise_sql, .params = 5},
    {.name = NULL}};
enum { S_PREPARED_LOCK, S_PREPARED_CREATE, S_PREPARED_ADVANCE, S_PREPARED_LOCK_RAISE };

static const char *s_park_sql =
    "INSERT INTO bus_dead_letters (consumer, stream, seq, partition, type, message_id,"
    " envelope, error, attempts, first_failed_at, last_failed_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now())"
    " ON CONFLICT (consumer, stream, seq) DO UPDATE"
    " SET error = EXCLUDED.error,"
    " attempts = LEAST(bus_dead_letters.attempts::bigint + EXCLUDED.attempts, 2147483647),"
    " last_failed_at = EXCLUDED.last_failed_at, retry_requested = false";

#define S_UTC_FORMAT "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"

static const char *s_list_sql =
    "SELECT id, consumer, stream, seq, partition, type, message_id::text, error, attempts,"
    " to_char(first_failed_at AT TIME ZONE 'UTC', " S_UTC_FORMAT "),"
    " to_char(last_failed_at AT TIME ZONE 'UTC', " S_UTC_FORMAT "), retry_requested"
    " FROM bus_dead_letters WHERE ($1::text IS NULL OR consumer = $1) AND id > $2"
    " ORDER BY id LIMIT $3";

//  PostgreSQL's base64 breaks lines every 76 characters; chr(10) drops them.
static const char *s_claim_sql =
    "SELECT id, stream, seq, translate(encode(envelope, 'base64'), chr(10), '')"
    " FROM bus_dead_letters WHERE consumer = $1 AND retry_requested"
    " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED";

//  A statement: SQL, its text parameters and what it is for (in messages).
typedef struct {
    const char *what;           //  names the step in error messages
    const char *sql;            //  one statement with $n parameters
    int count;                  //  number of parameters
    const char *const *values;  //  parameter values (text unless formats says 1)
    const int *lengths;         //  byte lengths of binary parameters, or NULL
    const int *formats;         //  1 per binary parameter, or NULL (all text)
    bus_statements_t *prepared; //  run as statement `index` of these, or NULL: unprepared
    size_t index;               //  its index in s_prepared
} s_statement_t;

//  --------------------------------------------------------------------------
//  Explain a failed statement. Returns BUS_DB_UNAVAILABLE: a lost
//  connection (bad status, SQLSTATE class 08) and any other failure alike
//  mean "roll back and retry"; the message says which it was.

static bus_rc_t
s_fail(PGconn *conn, const PGresult *result, const char *what, char **error_out)
{
    ExecStatusType status = PQresultStatus(result);
    const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    const char *message = result ? PQresultErrorMessage(result) : "";
    if (!*message) {
        message = PQerrorMessage(conn);
    }
    if (status != PGRES_FATAL_ERROR && status != PGRES_NONFATAL_ERROR &&
        status != PGRES_BAD_RESPONSE) {
        message = PQresStatus(status);
    }
    bool lost = PQstatus(conn) != CONNECTION_OK || (sqlstate && strncmp(sqlstate, "08", 2) == 0);
    size_t length = strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == ' ')) {
        length--;
    }
    svc_error_set(error_out, "%s: %s%.*s", what, lost ? "connection lost: " : "", (int) length,
                  message);
    return BUS_DB_UNAVAILABLE;
}

//  --------------------------------------------------------------------------
//  Run a statement that must end with `expected`. Returns BUS_OK and the
//  result in *result_out (caller clears it), or BUS_DB_UNAVAILABLE.

static bus_rc_t
s_execute(PGconn *conn,
          const s_statement_t *statement,
          ExecStatusType expected,
          PGresult **result_out,
          char **error_out)
{
    *result_out = NULL;
    if (PQstatus(conn) != CONNECTION_OK) {
        svc_error_set(error_out, "%s: connection lost: %s", statement->what, PQerrorMessage(conn));
        return BUS_DB_UNAVAILABLE;
    }
    if (statement->prepared) {
        //  Text parameters only; the check and its message as below.
        assert(!statement->lengths && !statement->formats);
        *result_out = bus_statements_run(statement->prepared, conn, statement->index,
                                         statement->values, expected, statement->what, error_out);
        return *result_out ? BUS_OK : BUS_DB_UNAVAILABLE;
    }
    PGresult *result = PQexecParams(conn, statement->sql, statement->count, NULL, statement->values,
                                    statement->lengths, statement->formats, 0);
    if (PQresultStatus(result) != expected) {
        bus_rc_t rc = s_fail(conn, result, statement->what, error_out);
        PQclear(result);
        return rc;
    }
    *result_out = result;
    return BUS_OK;
}

//  --------------------------------------------------------------------------
//  Parse a non-negative bigint column as PostgreSQL prints it. Returns
//  false for anything else.

static bool
s_parse_count(const char *text, int64_t *value)
{
    if (*text < '0' || *text > '9') {
        return false;
    }
    errno = 0;
    char *end = NULL;
    long long parsed = strtoll(text, &end, 10);
    if (errno || *end) {
        return false;
    }
    *value = parsed;
    return true;
}

static int
s_compare_partitions(const void *left, const void *right)
{
    uint32_t first = *(const uint32_t *) left;
    uint32_t second = *(const uint32_t *) right;
    return (first > second) - (first < second);
}

//  --------------------------------------------------------------------------
//  The distinct partitions as an int[] literal "{1,5,9}", ascending, and
//  how many there are. Caller owns return value.

static char *
s_partition_array(const uint32_t *partitions, size_t partition_count, size_t *distinct_out)
{
    uint32_t *sorted = zmalloc(partition_count * sizeof *sorted + 1);
    memcpy(sorted, partitions, partition_count * sizeof *sorted);
    qsort(sorted, partition_count, sizeof *sorted, s_compare_partitions);
    char *text = zmalloc(partition_count * 11 + 3);
    char *cursor = text;
    *cursor++ = '{';
    size_t distinct = 0;
    for (size_t index = 0; index < partition_count; index++) {
        if (index > 0 && sorted[index] == sorted[index - 1]) {
            continue;
        }
        cursor += sprintf(cursor, "%s%" PRIu32, distinct ? "," : "", sorted[index]);
        distinct++;
    }
    *cursor++ = '}';
    freen(sorted);
    *distinct_out = distinct;
    return text;
}

//  --------------------------------------------------------------------------
//  Copy rows of (partition, last_seq) into `checkpoints`. Returns the number
//  of rows copied, or -1 if a row is not a checkpoint of this table.

static int64_t
s_copy_rows(const PGresult *result, bus_checkpoints_t *checkpoints)
{
    int rows = PQntuples(result);
    for (int row = 0; row < rows; row++) {
        int64_t partition = 0;
        int64_t last_seq = 0;
        if (!s_parse_count(PQgetvalue(result, row, 0), &partition) ||
            !s_parse_count(PQgetvalue(result, row, 1), &last_seq) ||
            partition >= checkpoints->partitions) {
            return -1;
        }
        checkpoints->last_seq[partition] = (uint64_t) last_seq;
    }
    return rows;
}

//  --------------------------------------------------------------------------
//  Read the checkpoints of (consumer, stream); missing rows read as 0.

bus_rc_t
bus_inbox_load(PGconn *conn,
               const char *consumer,
               const char *stream,
               uint32_t partitions,
               bus_checkpoints_t **out,
               char **error_out)
{
    assert(conn);
    assert(consumer);
    assert(stream);
    assert(partitions >= 1);
    assert(out);
    *out = NULL;
    if (error_out) {
        *error_out = NULL;
    }
    char partitions_text[16];
    (void) snprintf(partitions_text, sizeof partitions_text, "%" PRIu32, partitions);
    const char *values[] = {consumer, stream, partitions_text};
    s_statement_t statement = {"loading checkpoints", s_load_sql, 3, values, NULL, NULL, NULL, 0};
    PGresult *result = NULL;
    bus_rc_t rc = s_execute(conn, &statement, PGRES_TUPLES_OK, &result, error_out);
    if (rc != BUS_OK) {
        return rc;
    }
    bus_checkpoints_t *checkpoints =
        zmalloc(sizeof *checkpoints + partitions * sizeof checkpoints->last_seq[0]);
    checkpoints->partitions = partitions;
    if (s_copy_rows(result, checkpoints) < 0) {
        svc_error_set(error_out, "loading checkpoints: a row is not a checkpoint");
        freen(checkpoints);
        rc = BUS_DB_UNAVAILABLE;
    } else {
        *out = checkpoints;
    }
    PQclear(result);
    return rc;
}

//  --------------------------------------------------------------------------
//  Run one lock or create statement; for a lock, copy the locked rows into
//  `checkpoints` and count them in *locked_out.

static bus_rc_t
s_lock_step(PGconn *conn,
            const s_statement_t *statement,
            bus_checkpoints_t *checkpoints,
            int64_t *locked_out,
            char **error_out)
{
    bool locking = checkpoints != NULL;
    PGresult *result = NULL;
    bus_rc_t rc = s_execute(conn, statement, locking ? PGRES_TUPLES_OK : PGRES_COMMAND_OK, &result,
                            error_out);
    if (rc == BUS_OK && locking) {
        *locked_out = s_copy_rows(result, checkpoints);
        if (*locked_out < 0) {
            svc_error_set(error_out, "%s: a row is not a checkpoint", statement->what);
            rc = BUS_DB_UNAVAILABLE;
        }
    }
    PQclear(result);
    return rc;
}

//  --------------------------------------------------------------------------
//  Lock the checkpoint rows of a batch, creating missing ones, and refresh
//  the caller's table with the locked values.

bus_statements_t *
bus_inbox_statements_new(void)
{
    return bus_statements_new(s_prepared);
}

bus_rc_t
bus_inbox_lock(PGconn *conn,
               bus_statements_t *prepared,
               const char *consumer,
               const char *stream,
               const uint32_t *partitions,
               size_t partition_count,
               bus_checkpoints_t *checkpoints,
               char **error_out)
{
    assert(conn);
    assert(prepared);
    assert(consumer);
    assert(stream);
    assert(partitions || partition_count == 0);
    assert(checkpoints);
    for (size_t index = 0; index < partition_count; index++) {
        assert(partitions[index] < checkpoints->partitions);
    }
    if (error_out) {
        *error_out = NULL;
    }
    size_t distinct = 0;
    char *array = s_partition_array(partitions, partition_count, &distinct);
    const char *values[] = {consumer, stream, array};
    s_statement_t lock = {"locking checkpoints", s_lock_sql, 3, values, NULL, NULL, prepared,
                          S_PREPARED_LOCK};
    s_statement_t create = {"creating checkpoints", s_create_sql, 3, values, NULL, NULL, prepared,
                            S_PREPARED_CREATE};
    int64_t locked = 0;
    bus_rc_t rc = s_lock_step(conn, &lock, checkpoints, &locked, error_out);
    if (rc == BUS_OK && (size_t) locked < distinct) {
        rc = s_lock_step(conn, &create, NULL, NULL, error_out);
        if (rc == BUS_OK) {
            rc = s_lock_step(conn, &lock, checkpoints, &locked, error_out);
        }
        if (rc == BUS_OK && (size_t) locked < distinct) {
            svc_error_set(error_out,
                          "locking checkpoints: %zu of %zu rows invisible (the transaction"
                          " must be READ COMMITTED)",
                          distinct - (size_t) locked, distinct);
            rc = BUS_DB_UNAVAILABLE;
        }
    }
    freen(array);
    return rc;
}

//  --------------------------------------------------------------------------
//  The text of a checkpoint's new seq, or BUS_MALFORMED (with the error)
//  when a bigint cannot hold it.

#define S_SEQ_TEXT_SIZE 24

static bus_rc_t
s_seq_text(uint64_t seq, char text[S_SEQ_TEXT_SIZE], char **error_out)
{
    if (seq > INT64_MAX) {
        svc_error_set(error_out, "advancing checkpoints: seq %" PRIu64 " exceeds a bigint", seq);
        return BUS_MALFORMED;
    }
    (void) snprintf(text, S_SEQ_TEXT_SIZE, "%" PRIu64, seq);
    return BUS_OK;
}

//  --------------------------------------------------------------------------
//  Lock and raise in one statement when every row exists; else lock as
//  bus_inbox_lock (creating the rows) and leave the raise to the caller.

bus_rc_t
bus_inbox_lock_raise(PGconn *conn,
                     bus_statements_t *prepared,
                     const char *consumer,
                     const char *stream,
                     const uint32_t *partitions,
                     size_t partition_count,
                     uint64_t seq,
                     bus_checkpoints_t *checkpoints,
                     bool *raised_out,
                     char **error_out)
{
    assert(conn);
    assert(prepared);
    assert(consumer);
    assert(stream);
    assert(partitions || partition_count == 0);
    assert(checkpoints);
    assert(raised_out);
    for (size_t index = 0; index < partition_count; index++) {
        assert(partitions[index] < checkpoints->partitions);
    }
    if (error_out) {
        *error_out = NULL;
    }
    *raised_out = false;
    char seq_text[S_SEQ_TEXT_SIZE];
    if (s_seq_text(seq, seq_text, error_out) != BUS_OK) {
        return BUS_MALFORMED;
    }
    size_t distinct = 0;
    char *array = s_partition_array(partitions, partition_count, &distinct);
    char count_text[S_SEQ_TEXT_SIZE];
    (void) snprintf(count_text, sizeof count_text, "%zu", distinct);
    const char *values[] = {consumer, stream, array, seq_text, count_text};
    s_statement_t statement = {"locking and raising checkpoints",
                               s_lock_raise_sql,
                               5,
                               values,
                               NULL,
                               NULL,
                               prepared,
                               S_PREPARED_LOCK_RAISE};
    int64_t locked = 0;
    bus_rc_t rc = s_lock_step(conn, &statement, checkpoints, &locked, error_out);
    freen(array);
    if (rc != BUS_OK) {
        return rc;
    }
    if ((size_t) locked == distinct) {
        *raised_out = true;
        return BUS_OK;
    }
    //  Rows to create first (a partition's first event): nothing was raised.
    return bus_inbox_lock(conn, prepared, consumer, stream, partitions, partition_count,
                          checkpoints, error_out);
}

//  --------------------------------------------------------------------------
//  Raise the checkpoints of the listed partitions to at least `seq`.

bus_rc_t
bus_inbox_advance(PGconn *conn,
                  bus_statements_t *prepared,
                  const char *consumer,
                  const char *stream,
                  const uint32_t *partitions,
                  size_t partition_count,
                  uint64_t seq,
                  char **error_out)
{
    assert(conn);
    assert(prepared);
    assert(consumer);
    assert(stream);
    assert(partitions || partition_count == 0);
    for (size_t index = 0; index < partition_count; index++) {
        assert(partitions[index] <= INT32_MAX);
    }
    if (error_out) {
        *error_out = NULL;
    }
    char seq_text[S_SEQ_TEXT_SIZE];
    if (s_seq_text(seq, seq_text, error_out) != BUS_OK) {
        return BUS_MALFORMED;
    }
    size_t distinct = 0;
    char *array = s_partition_array(partitions, partition_count, &distinct);
    const char *values[] = {consumer, stream, array, seq_text};
    s_statement_t statement = {
        "advancing checkpoints", s_advance_sql, 4, values, NULL, NULL, prepared,
        S_PREPARED_ADVANCE};
    PGresult *result = NULL;
    bus_rc_t rc = s_execute(conn, &statement, PGRES_COMMAND_OK, &result, error_out);
    PQclear(result);
    freen(array);
    return rc;
}

//  --------------------------------------------------------------------------
//  The length of the valid UTF-8 sequence at `text` (RFC 3629: no overlong
//  forms, no surrogates, nothing above U+10FFFF, as PostgreSQL checks), or
//  0 if there is none.

static size_t
s_utf8_length(const unsigned char *text)
{
    unsigned char lead = text[0];
    if (lead < 0x80) {
        return 1;
    }
    size_t length = lead >= 0xc2 && lead <= 0xdf   ? 2
                    : lead >= 0xe0 && lead <= 0xef ? 3
                    : lead >= 0xf0 && lead <= 0xf4 ? 4
                                                   : 0;
    //  The second byte's range narrows for E0, ED, F0 and F4.
    unsigned char low = lead == 0xe0 ? 0xa0 : lead == 0xf0 ? 0x90 : 0x80;
    unsigned char high = lead == 0xed ? 0x9f : lead == 0xf4 ? 0x8f : 0xbf;
    for (size_t index = 1; index < length; index++) {
        unsigned char byte = text[index];
        if (byte < (index == 1 ? low : 0x80) || byte > (index == 1 ? high : 0xbf)) {
            return 0;
        }
    }
    return length;
}

//  --------------------------------------------------------------------------
//  A copy of `text` that PostgreSQL and JSON accept: at most `max_bytes`
//  bytes, cut between characters, every byte of an invalid sequence
//  replaced by '?'. Caller owns return value.

static char *
s_valid_utf8(const char *text, size_t max_bytes)
{
    const unsigned char *source = (const unsigned char *) text;
    char *copy = zmalloc(max_bytes + 1);
    size_t used = 0;
    while (*source) {
        size_t length = s_utf8_length(source);
        if (used + (length ? length : 1) > max_bytes) {
            break;
        }
        if (length) {
            memcpy(copy + used, source, length);
            used += length;
            source += length;
        } else {
            copy[used++] = '?';
            source++;
        }
    }
    return copy;
}

//  --------------------------------------------------------------------------
//  Park an event whose handler kept failing (idempotent per consumer,
//  stream and seq).

bus_rc_t
bus_inbox_park(PGconn *conn,
               const char *consumer,
               const char *stream,
               uint64_t seq,
               uint32_t partition,
               const char *type,
               const char *message_id,
               const void *envelope,
               size_t envelope_size,
               const char *error,
               int attempts,
               char **error_out)
{
    assert(conn);
    assert(consumer);
    assert(stream);
    assert(partition <= INT32_MAX);
    assert(type);
    assert(message_id);
    assert(envelope);
    assert(envelope_size <= INT_MAX);
    assert(error);
    assert(attempts >= 0);
    if (error_out) {
        *error_out = NULL;
    }
    if (seq > INT64_MAX) {
        svc_error_set(error_out, "parking a dead letter: seq %" PRIu64 " exceeds a bigint", seq);
        return BUS_MALFORMED;
    }
    char seq_text[24];
    char partition_text[16];
    char attempts_text[16];
    (void) snprintf(seq_text, sizeof seq_text, "%" PRIu64, seq);
    (void) snprintf(partition_text, sizeof partition_text, "%" PRIu32, partition);
    (void) snprintf(attempts_text, sizeof attempts_text, "%d", attempts);
    char *reason = s_valid_utf8(error, BUS_INBOX_ERROR_MAX);
    const char *values[] = {consumer,   stream,   seq_text, partition_text, type,
                            message_id, envelope, reason,   attempts_text};
    const int lengths[] = {0, 0, 0, 0, 0, 0, (int) envelope_size, 0, 0};
    const int formats[] = {0, 0, 0, 0, 0, 0, 1, 0, 0};
    s_statement_t statement = {
        "parking a dead letter", s_park_sql, 9, values, lengths, formats, NULL, 0};
    PGresult *result = NULL;
    bus_rc_t rc = s_execute(conn, &statement, PGRES_COMMAND_OK, &result, error_out);
    PQclear(result);
    freen(reason);
    return rc;
}

//  --------------------------------------------------------------------------
//  A JSON string of a text column; text that is not valid UTF-8 (a
//  database in another encoding) is cleaned rather than dropped.

static json_t *
s_text_json(const PGresult *result, int row, int column)
{
    const char *text = PQgetvalue(result, row, column);
    json_t *value = json_string(text);
    if (!value) {
        char *valid = s_valid_utf8(text, strlen(text));
        value = json_string(valid);
        freen(valid);
    }
    return value;
}

//  --------------------------------------------------------------------------
//  A JSON integer of a bigint or integer column (0 if it is not one).

static json_t *
s_integer_json(const PGresult *result, int row, int column)
{
    const char *text = PQgetvalue(result, row, column);
    return json_integer(strtoll(text, NULL, 10));
}

//  --------------------------------------------------------------------------
//  One row of s_list_sql as the JSON object the operator API shows.

static json_t *
s_dead_letter_json(const PGresult *result, int row)
{
    json_t *item = json_object();
    json_object_set_new(item, "id", s_integer_json(result, row, 0));
    json_object_set_new(item, "consumer", s_text_json(result, row, 1));
    json_object_set_new(item, "stream", s_text_json(result, row, 2));
    json_object_set_new(item, "seq", s_integer_json(result, row, 3));
    json_object_set_new(item, "partition", s_integer_json(result, row, 4));
    json_object_set_new(item, "type", s_text_json(result, row, 5));
    json_object_set_new(item, "messageId", s_text_json(result, row, 6));
    json_object_set_new(item, "error", s_text_json(result, row, 7));
    json_object_set_new(item, "attempts", s_integer_json(result, row, 8));
    json_object_set_new(item, "firstFailedAt", s_text_json(result, row, 9));
    json_object_set_new(item, "lastFailedAt", s_text_json(result, row, 10));
    json_object_set_new(item, "retryRequested",
                        json_boolean(streq(PQgetvalue(result, row, 11), "t")));
    return item;
}

//  --------------------------------------------------------------------------
//  One row of s_claim_sql as the JSON object the consumer re-applies.

static json_t *
s_claim_json(const PGresult *result, int row)
{
    json_t *item = json_object();
    json_object_set_new(item, "id", s_integer_json(result, row, 0));
    json_object_set_new(item, "stream", s_text_json(result, row, 1));
    json_object_set_new(item, "seq", s_integer_json(result, row, 2));
    json_object_set_new(item, "envelope", s_text_json(result, row, 3));
    return item;
}

typedef json_t *(s_row_json_fn) (const PGresult *result, int row);

//  --------------------------------------------------------------------------
//  Run a query and turn each row into a JSON array item.

static bus_rc_t
s_query_json(PGconn *conn,
             const s_statement_t *statement,
             s_row_json_fn *row_json,
             json_t **out,
             char **error_out)
{
    PGresult *result = NULL;
    bus_rc_t rc = s_execute(conn, statement, PGRES_TUPLES_OK, &result, error_out);
    if (rc != BUS_OK) {
        return rc;
    }
    json_t *items = json_array();
    int rows = PQntuples(result);
    for (int row = 0; row < rows; row++) {
        json_array_append_new(items, row_json(result, row));
    }
    PQclear(result);
    *out = items;
    return BUS_OK;
}

//  --------------------------------------------------------------------------
//  List dead letters, oldest first, one keyset page.

bus_rc_t
bus_inbox_dead_letters(
    PGconn *conn, const char *consumer, int64_t after_id, int limit, json_t **out, char **error_out)
{
    assert(conn);
    assert(after_id >= 0);
    assert(limit >= 1);
    assert(out);
    *out = NULL;
    if (error_out) {
        *error_out = NULL;
    }
    char after_text[24];
    char limit_text[16];
    (void) snprintf(after_text, sizeof after_text, "%" PRId64, after_id);
    (void) snprintf(limit_text, sizeof limit_text, "%d",
                    limit < BUS_INBOX_LIST_MAX ? limit : BUS_INBOX_LIST_MAX);
    const char *values[] = {consumer, after_text, limit_text};
    s_statement_t statement = {"listing dead letters", s_list_sql, 3, values, NULL, NULL, NULL, 0};
    return s_query_json(conn, &statement, s_dead_letter_json, out, error_out);
}

//  --------------------------------------------------------------------------
//  Run a statement about one dead letter; BUS_NOT_FOUND if it touched none.

static bus_rc_t
s_change_one(PGconn *conn, const char *what, const char *sql, int64_t id, char **error_out)
{
    if (error_out) {
        *error_out = NULL;
    }
    char id_text[24];
    (void) snprintf(id_text, sizeof id_text, "%" PRId64, id);
    const char *values[] = {id_text};
    s_statement_t statement = {what, sql, 1, values, NULL, NULL, NULL, 0};
    PGresult *result = NULL;
    bus_rc_t rc = s_execute(conn, &statement, PGRES_COMMAND_OK, &result, error_out);
    if (rc == BUS_OK && streq(PQcmdTuples(result), "0")) {
        svc_error_set(error_out, "%s: no dead letter %" PRId64, what, id);
        rc = BUS_NOT_FOUND;
    }
    PQclear(result);
    return rc;
}

//  --------------------------------------------------------------------------
//  Mark a dead letter for retry by its consumer.

bus_rc_t
bus_inbox_retry(PGconn *conn, int64_t id, char **error_out)
{
    assert(conn);
    return s_change_one(conn, "retrying a dead letter",
                        "UPDATE bus_dead_letters SET retry_requested = true WHERE id = $1", id,
                        error_out);
}

//  --------------------------------------------------------------------------
//  Remove a dead letter for good.

bus_rc_t
bus_inbox_discard(PGconn *conn, int64_t id, char **error_out)
{
    assert(conn);
    return s_change_one(conn, "discarding a dead letter",
                        "DELETE FROM bus_dead_letters WHERE id = $1", id, error_out);
}

//  --------------------------------------------------------------------------
//  Claim dead letters marked for retry, skipping those another transaction
//  holds.

bus_rc_t
bus_inbox_claim_retries(
    PGconn *conn, const char *consumer, int limit, json_t **out, char **error_out)
{
    assert(conn);
    assert(consumer);
    assert(limit >= 1);
    assert(out);
    *out = NULL;
    if (error_out) {
        *error_out = NULL;
    }
    char limit_text[16];
    (void) snprintf(limit_text, sizeof limit_text, "%d",
                    limit < BUS_INBOX_LIST_MAX ? limit : BUS_INBOX_LIST_MAX);
    const char *values[] = {consumer, limit_text};
    s_statement_t statement = {
        "claiming dead letters", s_claim_sql, 2, values, NULL, NULL, NULL, 0};
    return s_query_json(conn, &statement, s_claim_json, out, error_out);
}
