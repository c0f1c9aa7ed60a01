/*  =========================================================================
    bus_sequencer_test - every sequencing rule of docs/protocol.md section 6

    The sequencer is pure, so each case drives it with seqs, heartbeats,
    replies and times, and checks the answers and the state. The first case
    is the usage example: a subscriber that starts behind, catches up by
    replay and goes live.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_sequencer.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  The replay timeout every case uses.
#define TIMEOUT_MS 5000

//  A reply header with `status` for events from..to and the tail `last_seq`.
static bus_replay_reply_t
s_reply(bus_replay_status_t status, uint64_t from_seq, uint64_t to_seq, uint64_t last_seq)
{
    bus_replay_reply_t reply = {.status = status,
                                .from_seq = from_seq,
                                .to_seq = to_seq,
                                .last_seq = last_seq,
                                .first_seq = 1};
    strcpy(reply.stream, "order-0");
    return reply;
}

//  Feed a whole OK reply with events from..to; assert each answer is
//  `expected` and return the answer of reply_done.
static bus_sequencer_action_t
s_read_reply(bus_sequencer_t *sequencer,
             uint64_t from_seq,
             uint64_t to_seq,
             uint64_t last_seq,
             bus_sequencer_action_t expected,
             int64_t now_ms)
{
    bus_replay_reply_t reply = s_reply(BUS_REPLAY_OK, from_seq, to_seq, last_seq);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_READ);
    for (uint64_t seq = from_seq; seq <= to_seq; seq++) {
        assert_int_equal(bus_sequencer_replayed(sequencer, seq), expected);
    }
    return bus_sequencer_reply_done(sequencer, now_ms);
}

//  --------------------------------------------------------------------------
//  Usage: checkpoint 10, publisher at 2500; catch up in chunks, go live.

static void
test_usage(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_WAITING);
    bus_sequencer_load(sequencer, 11);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_LIVE);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 2500, 100), BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 11);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_CATCHING_UP);

    //  Chunks of 1000 events: each full chunk asks for the next.
    assert_int_equal(s_read_reply(sequencer, 11, 1010, 2500, BUS_SEQUENCER_APPLY, 200),
                     BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 1011);
    assert_int_equal(s_read_reply(sequencer, 1011, 2010, 2500, BUS_SEQUENCER_APPLY, 300),
                     BUS_SEQUENCER_REPLAY);
    //  Meanwhile the publisher moved on: the last chunk says 2600.
    assert_int_equal(s_read_reply(sequencer, 2011, 2600, 2600, BUS_SEQUENCER_APPLY, 400),
                     BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_LIVE);
    assert_int_equal(bus_sequencer_next(sequencer), 2601);

    //  Live: in order, then a duplicate.
    assert_int_equal(bus_sequencer_event(sequencer, 2601, 500), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_event(sequencer, 2601, 500), BUS_SEQUENCER_DUPLICATE);
    assert_int_equal(bus_sequencer_next(sequencer), 2602);
    assert_int_equal(bus_sequencer_last_seq(sequencer), 2601);
    bus_sequencer_destroy(&sequencer);
    assert_null(sequencer);
    bus_sequencer_destroy(&sequencer); //  twice is safe
}

//  --------------------------------------------------------------------------
//  Rules 2 and 3: in order applies, below next is a duplicate.

static void
test_live_in_order_and_duplicates(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    bus_sequencer_load(sequencer, 1);
    for (uint64_t seq = 1; seq <= 100; seq++) {
        assert_int_equal(bus_sequencer_event(sequencer, seq, 0), BUS_SEQUENCER_APPLY);
    }
    assert_int_equal(bus_sequencer_next(sequencer), 101);
    for (uint64_t seq = 1; seq <= 100; seq += 7) {
        assert_int_equal(bus_sequencer_event(sequencer, seq, 0), BUS_SEQUENCER_DUPLICATE);
    }
    assert_int_equal(bus_sequencer_next(sequencer), 101);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_LIVE);
    //  A heartbeat at the tail asks for nothing.
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 100, 0), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_tick(sequencer, 1000000), BUS_SEQUENCER_NONE);
    bus_sequencer_destroy(&sequencer);
}

//  --------------------------------------------------------------------------
//  Rule 4: a gap asks for a replay once; later events are dropped except
//  `next`, which is taken (its replayed copy is then a duplicate).

static void
test_gap(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    bus_sequencer_load(sequencer, 5);
    assert_int_equal(bus_sequencer_event(sequencer, 5, 0), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_event(sequencer, 8, 10), BUS_SEQUENCER_GAP);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 6);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_CATCHING_UP);
    assert_int_equal(bus_sequencer_event(sequencer, 9, 11), BUS_SEQUENCER_DROP);
    assert_int_equal(bus_sequencer_event(sequencer, 6, 12), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_event(sequencer, 6, 12), BUS_SEQUENCER_DUPLICATE);
    assert_int_equal(bus_sequencer_last_seq(sequencer), 9);

    //  The reply: 6 is a duplicate now, 7..9 apply; the tail 9 is reached.
    bus_replay_reply_t reply = s_reply(BUS_REPLAY_OK, 6, 9, 9);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_READ);
    assert_int_equal(bus_sequencer_replayed(sequencer, 6), BUS_SEQUENCER_DUPLICATE);
    assert_int_equal(bus_sequencer_replayed(sequencer, 7), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_replayed(sequencer, 8), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_replayed(sequencer, 9), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_reply_done(sequencer, 20), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_LIVE);
    assert_int_equal(bus_sequencer_next(sequencer), 10);

    //  A second gap later asks again, from the new next.
    assert_int_equal(bus_sequencer_event(sequencer, 12, 30), BUS_SEQUENCER_GAP);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 10);
    bus_sequencer_destroy(&sequencer);
}

//  --------------------------------------------------------------------------
//  Rule 5: a heartbeat beyond `next` reveals a lost tail.

static void
test_heartbeat_tail(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    bus_sequencer_load(sequencer, 1);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 0, 0), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_event(sequencer, 1, 0), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_event(sequencer, 2, 0), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 2, 0), BUS_SEQUENCER_NONE);
    //  3 was lost (it was the last one published).
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 3, 100), BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 3);
    //  While in flight another heartbeat asks for nothing.
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 3, 200), BUS_SEQUENCER_NONE);
    assert_int_equal(s_read_reply(sequencer, 3, 3, 3, BUS_SEQUENCER_APPLY, 300),
                     BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 3, 400), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_next(sequencer), 4);
    //  A heartbeat going backwards does not lower the tail heard.
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 1, 500), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_last_seq(sequencer), 3);
    bus_sequencer_destroy(&sequencer);
}

//  --------------------------------------------------------------------------
//  Replies: only the answer to the request in flight is read; stale,
//  repeated and out-of-order replies are not.

static void
test_stale_and_out_of_order_replies(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    bus_replay_reply_t reply = s_reply(BUS_REPLAY_OK, 1, 10, 10);
    //  Waiting: nothing was asked.
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_STALE);
    bus_sequencer_load(sequencer, 1);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_STALE);

    assert_int_equal(bus_sequencer_heartbeat(sequencer, 10, 0), BUS_SEQUENCER_REPLAY);
    //  Another from_seq is an answer to an older request.
    reply = s_reply(BUS_REPLAY_OK, 2, 10, 10);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_STALE);

    //  A reply that skips a seq: the rest of it is not read.
    reply = s_reply(BUS_REPLAY_OK, 1, 10, 10);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_READ);
    assert_int_equal(bus_sequencer_replayed(sequencer, 1), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_replayed(sequencer, 3), BUS_SEQUENCER_OUT_OF_ORDER);
    assert_int_equal(bus_sequencer_replayed(sequencer, 2), BUS_SEQUENCER_OUT_OF_ORDER);
    //  It carried an event, so the next chunk is asked for at once.
    assert_int_equal(bus_sequencer_reply_done(sequencer, 10), BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 2);

    //  Events past the promised to_seq are out of order too.
    reply = s_reply(BUS_REPLAY_OK, 2, 2, 10);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_READ);
    assert_int_equal(bus_sequencer_replayed(sequencer, 2), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_replayed(sequencer, 3), BUS_SEQUENCER_OUT_OF_ORDER);
    assert_int_equal(bus_sequencer_reply_done(sequencer, 20), BUS_SEQUENCER_REPLAY);

    //  The same reply again (a resend was answered twice): stale.
    reply = s_reply(BUS_REPLAY_OK, 3, 10, 10);
    assert_int_equal(s_read_reply(sequencer, 3, 10, 10, BUS_SEQUENCER_APPLY, 30),
                     BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_STALE);
    assert_int_equal(bus_sequencer_next(sequencer), 11);
    bus_sequencer_destroy(&sequencer);
}

//  --------------------------------------------------------------------------
//  A reply without events while the tail is ahead does not ask again at
//  once (no hot loop); the tick does, after the timeout.

static void
test_empty_reply_no_hot_loop(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    bus_sequencer_load(sequencer, 5);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 9, 1000), BUS_SEQUENCER_REPLAY);
    assert_int_equal(s_read_reply(sequencer, 5, 4, 9, BUS_SEQUENCER_APPLY, 1100),
                     BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_LIVE);
    assert_int_equal(bus_sequencer_tick(sequencer, 1000 + TIMEOUT_MS - 1), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_tick(sequencer, 1000 + TIMEOUT_MS), BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 5);

    //  Only duplicates in a reply still count as progress: the tail is
    //  ahead, so the next chunk is asked for.
    assert_int_equal(bus_sequencer_event(sequencer, 5, 7000), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_event(sequencer, 6, 7000), BUS_SEQUENCER_APPLY);
    assert_int_equal(s_read_reply(sequencer, 5, 6, 9, BUS_SEQUENCER_DUPLICATE, 7100),
                     BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 7);
    bus_sequencer_destroy(&sequencer);
}

//  --------------------------------------------------------------------------
//  A request without an answer is sent again after the timeout, from the
//  current next; the old answer, arriving late, is still read if it
//  matches.

static void
test_replay_timeout(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    bus_sequencer_load(sequencer, 1);
    assert_int_equal(bus_sequencer_event(sequencer, 3, 1000), BUS_SEQUENCER_GAP);
    assert_int_equal(bus_sequencer_tick(sequencer, 1000 + TIMEOUT_MS - 1), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_event(sequencer, 1, 2000), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_tick(sequencer, 1000 + TIMEOUT_MS), BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 2);
    //  The first request's answer (from 1) is stale now.
    bus_replay_reply_t reply = s_reply(BUS_REPLAY_OK, 1, 3, 3);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_STALE);
    //  The clock starts again at each resend.
    assert_int_equal(bus_sequencer_tick(sequencer, 1000 + 2 * TIMEOUT_MS - 1), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_tick(sequencer, 1000 + 2 * TIMEOUT_MS), BUS_SEQUENCER_REPLAY);
    assert_int_equal(s_read_reply(sequencer, 2, 3, 3, BUS_SEQUENCER_APPLY, 20000),
                     BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_tick(sequencer, 100000), BUS_SEQUENCER_NONE);
    bus_sequencer_destroy(&sequencer);
}

//  --------------------------------------------------------------------------
//  Rule 6: TRIMMED stops the stream for good.

static void
test_trimmed(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    bus_sequencer_load(sequencer, 3);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 50, 0), BUS_SEQUENCER_REPLAY);
    bus_replay_reply_t reply = s_reply(BUS_REPLAY_TRIMMED, 3, 2, 50);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_STOP);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_TRIMMED);
    //  Nothing is taken and nothing is asked for, ever.
    assert_int_equal(bus_sequencer_event(sequencer, 3, 10), BUS_SEQUENCER_DROP);
    assert_int_equal(bus_sequencer_event(sequencer, 51, 10), BUS_SEQUENCER_DROP);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 60, 20), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_tick(sequencer, 1000000), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_resume(sequencer, 1000000), BUS_SEQUENCER_NONE);
    bus_sequencer_pause(sequencer);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_TRIMMED);
    reply = s_reply(BUS_REPLAY_OK, 3, 5, 60);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_STALE);
    assert_int_equal(bus_sequencer_next(sequencer), 3);
    bus_sequencer_destroy(&sequencer);
}

//  --------------------------------------------------------------------------
//  UNKNOWN_STREAM and BAD_REQUEST: refused, live again, asked later.

static void
test_refused(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    bus_sequencer_load(sequencer, 1);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 4, 0), BUS_SEQUENCER_REPLAY);
    bus_replay_reply_t reply = s_reply(BUS_REPLAY_UNKNOWN_STREAM, 1, 0, 0);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_REFUSED);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_LIVE);
    assert_int_equal(bus_sequencer_tick(sequencer, TIMEOUT_MS - 1), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_tick(sequencer, TIMEOUT_MS), BUS_SEQUENCER_REPLAY);
    reply = s_reply(BUS_REPLAY_BAD_REQUEST, 1, 0, 0);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_REFUSED);
    //  A heartbeat asks again at once.
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 4, TIMEOUT_MS + 1), BUS_SEQUENCER_REPLAY);
    bus_sequencer_destroy(&sequencer);
}

//  --------------------------------------------------------------------------
//  Pause (a failing event waits for its retry): events are dropped,
//  duplicates still counted, a request in flight is forgotten; resume asks
//  for everything missed.

static void
test_pause_and_resume(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    bus_sequencer_load(sequencer, 1);
    assert_int_equal(bus_sequencer_event(sequencer, 1, 0), BUS_SEQUENCER_APPLY);
    assert_int_equal(bus_sequencer_event(sequencer, 2, 0), BUS_SEQUENCER_APPLY);
    //  Paused with nothing missed: resume asks for nothing.
    bus_sequencer_pause(sequencer);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_PAUSED);
    assert_int_equal(bus_sequencer_resume(sequencer, 10), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_LIVE);

    assert_int_equal(bus_sequencer_event(sequencer, 5, 20), BUS_SEQUENCER_GAP);
    bus_sequencer_pause(sequencer);
    assert_int_equal(bus_sequencer_event(sequencer, 3, 30), BUS_SEQUENCER_DROP);
    assert_int_equal(bus_sequencer_event(sequencer, 2, 30), BUS_SEQUENCER_DUPLICATE);
    assert_int_equal(bus_sequencer_event(sequencer, 9, 30), BUS_SEQUENCER_DROP);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 12, 40), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_tick(sequencer, 100000), BUS_SEQUENCER_NONE);
    //  The answer to the request made before the pause is stale.
    bus_replay_reply_t reply = s_reply(BUS_REPLAY_OK, 3, 5, 5);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_STALE);
    assert_int_equal(bus_sequencer_next(sequencer), 3);

    assert_int_equal(bus_sequencer_resume(sequencer, 50), BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 3);
    assert_int_equal(s_read_reply(sequencer, 3, 12, 12, BUS_SEQUENCER_APPLY, 60),
                     BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_next(sequencer), 13);

    //  Paused while a reply is being read: the rest of it is dropped.
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 15, 70), BUS_SEQUENCER_REPLAY);
    reply = s_reply(BUS_REPLAY_OK, 13, 15, 15);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_READ);
    assert_int_equal(bus_sequencer_replayed(sequencer, 13), BUS_SEQUENCER_APPLY);
    bus_sequencer_pause(sequencer);
    assert_int_equal(bus_sequencer_replayed(sequencer, 14), BUS_SEQUENCER_DROP);
    assert_int_equal(bus_sequencer_replayed(sequencer, 15), BUS_SEQUENCER_DROP);
    assert_int_equal(bus_sequencer_reply_done(sequencer, 80), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_PAUSED);
    assert_int_equal(bus_sequencer_resume(sequencer, 90), BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 14);
    bus_sequencer_destroy(&sequencer);
}

//  --------------------------------------------------------------------------
//  Waiting and reset: nothing is taken before the checkpoint is loaded;
//  the tail heard meanwhile is kept; a reset forgets next and the request.

static void
test_waiting_and_reset(void **state)
{
    (void) state;
    bus_sequencer_t *sequencer = bus_sequencer_new(TIMEOUT_MS);
    assert_int_equal(bus_sequencer_event(sequencer, 1, 0), BUS_SEQUENCER_DROP);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 20, 0), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_tick(sequencer, 100000), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_next(sequencer), 0);
    assert_int_equal(bus_sequencer_last_seq(sequencer), 20);

    //  Loaded behind a known tail: the first tick asks.
    bus_sequencer_load(sequencer, 8);
    assert_int_equal(bus_sequencer_tick(sequencer, 100000), BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 8);
    bus_replay_reply_t reply = s_reply(BUS_REPLAY_OK, 8, 20, 20);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_READ);
    for (uint64_t seq = 8; seq <= 12; seq++) {
        assert_int_equal(bus_sequencer_replayed(sequencer, seq), BUS_SEQUENCER_APPLY);
    }
    //  The database is lost while applying: back to waiting.
    bus_sequencer_reset(sequencer);
    assert_int_equal(bus_sequencer_state(sequencer), BUS_SEQUENCER_WAITING);
    assert_int_equal(bus_sequencer_replayed(sequencer, 13), BUS_SEQUENCER_OUT_OF_ORDER);
    assert_int_equal(bus_sequencer_reply_done(sequencer, 100001), BUS_SEQUENCER_NONE);
    assert_int_equal(bus_sequencer_event(sequencer, 21, 100002), BUS_SEQUENCER_DROP);
    assert_int_equal(bus_sequencer_reply(sequencer, &reply), BUS_SEQUENCER_STALE);
    //  Reloaded from the checkpoint (the batch 8..12 never committed).
    bus_sequencer_load(sequencer, 8);
    assert_int_equal(bus_sequencer_heartbeat(sequencer, 21, 100003), BUS_SEQUENCER_REPLAY);
    assert_int_equal(bus_sequencer_replay_from(sequencer), 8);
    bus_sequencer_destroy(&sequencer);
}

//  --------------------------------------------------------------------------
//  Names for logs.

static void
test_names(void **state)
{
    (void) state;
    assert_string_equal(bus_sequencer_state_name(BUS_SEQUENCER_CATCHING_UP), "catching_up");
    assert_string_equal(bus_sequencer_state_name(BUS_SEQUENCER_TRIMMED), "trimmed");
    assert_string_equal(bus_sequencer_state_name((bus_sequencer_state_t) 99), "unknown");
    assert_string_equal(bus_sequencer_action_name(BUS_SEQUENCER_GAP), "gap");
    assert_string_equal(bus_sequencer_action_name(BUS_SEQUENCER_STOP), "stop");
    assert_string_equal(bus_sequencer_action_name((bus_sequencer_action_t) 99), "unknown");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_live_in_order_and_duplicates),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_heartbeat_tail),
        cmocka_unit_test(test_stale_and_out_of_order_replies),
        cmocka_unit_test(test_empty_reply_no_hot_loop),
        cmocka_unit_test(test_replay_timeout),
        cmocka_unit_test(test_trimmed),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_pause_and_resume),
        cmocka_unit_test(test_waiting_and_reset),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
