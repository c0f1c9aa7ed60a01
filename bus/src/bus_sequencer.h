/*  =========================================================================
    bus_sequencer - the per-stream sequencing rules of a subscriber (private)

    docs/protocol.md section 6 as a pure state machine: it is told what
    arrived for one stream (a live event, a heartbeat, a replay reply and
    its events, the passing of time) and answers what to do with it (apply,
    drop as a duplicate, drop and ask for a replay, ...). It does no I/O,
    holds no clock and logs nothing, so every rule is unit-tested alone
    (bus_sequencer_test.c); bus_subscriber.c owns the sockets, the database
    and the counters, and does what the answers say.

    `next` is the lowest seq not yet processed. An event the sequencer
    answers APPLY has been taken: `next` is past it, and the caller must
    process it (apply it, or skip it when this replica does not handle it)
    or else reset the stream. States:

        WAITING      no checkpoint loaded yet (or the database was lost):
                     every input is dropped; bus_sequencer_load leaves it
        LIVE         no replay in flight; live events are taken in order
        CATCHING_UP  one replay request is in flight (asked from
                     bus_sequencer_replay_from); live events other than
                     `next` are dropped, since the replay brings them
        PAUSED       the caller cannot take events now (a failing event
                     waits for its retry): events are dropped, and
                     bus_sequencer_resume asks for what was missed
        TRIMMED      a replay reply said the events needed were removed by
                     retention: stopped for good, nothing is skipped

    Whenever an answer is GAP or REPLAY the sequencer has marked a request
    from bus_sequencer_replay_from as in flight at `now_ms`; the caller
    sends it (a send that fails is simply sent again at the timeout).

        bus_sequencer_t *sequencer = bus_sequencer_new(5000);
        bus_sequencer_load(sequencer, checkpoint + 1);
        if (bus_sequencer_heartbeat(sequencer, heartbeat.last_seq, now) == BUS_SEQUENCER_REPLAY)
            send ReplayRequest from bus_sequencer_replay_from(sequencer)
        switch (bus_sequencer_event(sequencer, envelope->seq, now)) ...
        bus_sequencer_destroy(&sequencer);
    =========================================================================
*/
#ifndef BUS_SEQUENCER_H_INCLUDED
#define BUS_SEQUENCER_H_INCLUDED

#include <stdint.h>

#include "bus_control.h"

typedef struct bus_sequencer bus_sequencer_t;

typedef enum {
    BUS_SEQUENCER_WAITING = 0, //  no checkpoint loaded: every input is dropped
    BUS_SEQUENCER_LIVE,        //  no replay in flight
    BUS_SEQUENCER_CATCHING_UP, //  a replay request is in flight
    BUS_SEQUENCER_PAUSED,      //  the caller takes no events for now
    BUS_SEQUENCER_TRIMMED      //  the events needed are gone: stopped
} bus_sequencer_state_t;

typedef enum {
    BUS_SEQUENCER_NONE = 0,     //  nothing to do
    BUS_SEQUENCER_APPLY,        //  process this event (its seq was `next`; next moved past it)
    BUS_SEQUENCER_DUPLICATE,    //  seq < next: drop it and count a duplicate
    BUS_SEQUENCER_DROP,         //  drop it, uncounted: a replay brings it (or waiting/stopped)
    BUS_SEQUENCER_GAP,          //  seq > next: drop it, count a gap, send the replay request
    BUS_SEQUENCER_REPLAY,       //  send a replay request from bus_sequencer_replay_from
    BUS_SEQUENCER_READ,         //  a reply to the request in flight: feed each event that
                                //  follows to bus_sequencer_replayed, then call
                                //  bus_sequencer_reply_done
    BUS_SEQUENCER_STALE,        //  a reply to no request in flight: ignore it and its events
    BUS_SEQUENCER_REFUSED,      //  the publisher refused the request (UNKNOWN_STREAM or
                                //  BAD_REQUEST): ignore its events; asked again later
    BUS_SEQUENCER_OUT_OF_ORDER, //  a replayed event out of sequence: drop it and the rest of
                                //  the reply (a malformed reply), then call reply_done
    BUS_SEQUENCER_STOP          //  TRIMMED: stop the stream, log an error, count it
} bus_sequencer_action_t;

//  Create a sequencer in WAITING. A replay request without an answer for
//  `replay_timeout_ms` is sent again (bus_sequencer_tick). Caller owns
//  return value; destroy it with bus_sequencer_destroy.
bus_sequencer_t *bus_sequencer_new(int64_t replay_timeout_ms);

//  Destroy the sequencer; accepts NULL and nulls the caller's pointer.
void bus_sequencer_destroy(bus_sequencer_t **self_p);

//  The checkpoints are loaded: go LIVE with `next` (at least 1) and no
//  request in flight. Valid in any state but TRIMMED; the tail heard so far
//  is kept.
void bus_sequencer_load(bus_sequencer_t *self, uint64_t next);

//  Forget `next` and any request in flight (the database was lost, or the
//  caller dropped events it had taken): back to WAITING until the next
//  bus_sequencer_load. Valid in any state but TRIMMED.
void bus_sequencer_reset(bus_sequencer_t *self);

//  A live event with `seq` (at least 1) arrived. Returns APPLY, DUPLICATE,
//  GAP or DROP.
bus_sequencer_action_t bus_sequencer_event(bus_sequencer_t *self, uint64_t seq, int64_t now_ms);

//  A heartbeat says the stream's tail is `last_seq`. Returns REPLAY when it
//  shows events after `next` that never arrived (a lost tail) and no
//  request is in flight, else NONE.
bus_sequencer_action_t
bus_sequencer_heartbeat(bus_sequencer_t *self, uint64_t last_seq, int64_t now_ms);

//  A replay reply header arrived. Returns READ (then feed its events),
//  STALE, REFUSED or STOP (TRIMMED: the state is TRIMMED from now on).
bus_sequencer_action_t bus_sequencer_reply(bus_sequencer_t *self, const bus_replay_reply_t *reply);

//  The next event of the reply being read has `seq`. Returns APPLY,
//  DUPLICATE, DROP (paused meanwhile) or OUT_OF_ORDER (not the seq the
//  reply promised next; read no further events of this reply).
bus_sequencer_action_t bus_sequencer_replayed(bus_sequencer_t *self, uint64_t seq);

//  The reply's events were read. Returns REPLAY when the reply carried
//  events and the tail is still ahead of `next` (ask for the next chunk),
//  else NONE (caught up, or a reply without progress: the next heartbeat or
//  tick asks again, so a confused publisher is never asked in a hot loop).
bus_sequencer_action_t bus_sequencer_reply_done(bus_sequencer_t *self, int64_t now_ms);

//  Time passed. Returns REPLAY when the request in flight timed out, or
//  when no request is in flight, the known tail is ahead of `next` and the
//  last request is older than the timeout; else NONE.
bus_sequencer_action_t bus_sequencer_tick(bus_sequencer_t *self, int64_t now_ms);

//  Take no events for now (PAUSED); a request in flight is forgotten and
//  its reply will be STALE. Only from LIVE or CATCHING_UP; elsewhere it
//  does nothing.
void bus_sequencer_pause(bus_sequencer_t *self);

//  Take events again (LIVE). Returns REPLAY when the known tail is ahead of
//  `next`, else NONE. Only from PAUSED; elsewhere it returns NONE.
bus_sequencer_action_t bus_sequencer_resume(bus_sequencer_t *self, int64_t now_ms);

//  The current state.
bus_sequencer_state_t bus_sequencer_state(const bus_sequencer_t *self);

//  The lowest seq not yet taken (0 while WAITING).
uint64_t bus_sequencer_next(const bus_sequencer_t *self);

//  from_seq of the request in flight (valid after GAP or REPLAY).
uint64_t bus_sequencer_replay_from(const bus_sequencer_t *self);

//  The highest tail heard from heartbeats, events and replies (0 if none).
uint64_t bus_sequencer_last_seq(const bus_sequencer_t *self);

//  Name of a state or an action, for logs ("catching_up", "gap").
const char *bus_sequencer_state_name(bus_sequencer_state_t state);
const char *bus_sequencer_action_name(bus_sequencer_action_t action);

#endif
