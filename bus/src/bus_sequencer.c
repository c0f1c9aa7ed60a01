/*  =========================================================================
    bus_sequencer - the per-stream sequencing rules of a subscriber (private)

    Each function is one row of docs/protocol.md section 6, rules 2 to 6,
    plus the two rules the protocol leaves to the subscriber: a request
    without an answer is sent again after a timeout, and a reply that
    carried no event is not followed at once by another request (a
    publisher whose tail and log disagree would otherwise be asked in a hot
    loop; the next heartbeat or tick asks again).
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_sequencer.h"

struct bus_sequencer {
    bus_sequencer_state_t state; //  see the header
    int64_t replay_timeout_ms;   //  resend a request unanswered this long
    uint64_t next;               //  lowest seq not yet taken; 0 while WAITING
    uint64_t last_seq;           //  highest tail heard
    uint64_t replay_from;        //  from_seq of the request in flight (or the last one)
    int64_t replay_sent_ms;      //  when the last request was asked for; 0 = never
    bool reading;                //  a reply's events are being fed
    uint64_t reading_seq;        //  the seq the reply's next event must have
    uint64_t reading_to;         //  the reply's to_seq
    uint64_t reading_from;       //  the reply's from_seq
};

//  --------------------------------------------------------------------------
//  Create a sequencer in WAITING.

bus_sequencer_t *
bus_sequencer_new(int64_t replay_timeout_ms)
{
    assert(replay_timeout_ms > 0);
    bus_sequencer_t *self = zmalloc(sizeof *self);
    self->state = BUS_SEQUENCER_WAITING;
    self->replay_timeout_ms = replay_timeout_ms;
    return self;
}

void
bus_sequencer_destroy(bus_sequencer_t **self_p)
{
    assert(self_p);
    if (*self_p) {
        freen(*self_p);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Mark a request from `next` in flight and say so with `action`.

static bus_sequencer_action_t
s_request(bus_sequencer_t *self, bus_sequencer_action_t action, int64_t now_ms)
{
    self->state = BUS_SEQUENCER_CATCHING_UP;
    self->replay_from = self->next;
    self->replay_sent_ms = now_ms;
    self->reading = false;
    return action;
}

static void
s_hear_tail(bus_sequencer_t *self, uint64_t last_seq)
{
    if (last_seq > self->last_seq) {
        self->last_seq = last_seq;
    }
}

//  True when the tail heard is ahead of what was taken.
static bool
s_behind(const bus_sequencer_t *self)
{
    return self->last_seq >= self->next;
}

//  --------------------------------------------------------------------------
//  Loading and resetting

void
bus_sequencer_load(bus_sequencer_t *self, uint64_t next)
{
    assert(self);
    assert(next >= 1);
    assert(self->state != BUS_SEQUENCER_TRIMMED);
    self->state = BUS_SEQUENCER_LIVE;
    self->next = next;
    self->replay_sent_ms = 0;
    self->reading = false;
}

void
bus_sequencer_reset(bus_sequencer_t *self)
{
    assert(self);
    assert(self->state != BUS_SEQUENCER_TRIMMED);
    self->state = BUS_SEQUENCER_WAITING;
    self->next = 0;
    self->reading = false;
}

//  --------------------------------------------------------------------------
//  A live event: rules 2 (duplicate), 3 (next) and 4 (gap).

bus_sequencer_action_t
bus_sequencer_event(bus_sequencer_t *self, uint64_t seq, int64_t now_ms)
{
    assert(self);
    assert(seq >= 1);
    s_hear_tail(self, seq);
    if (self->state == BUS_SEQUENCER_WAITING || self->state == BUS_SEQUENCER_TRIMMED) {
        return BUS_SEQUENCER_DROP;
    }
    if (seq < self->next) {
        return BUS_SEQUENCER_DUPLICATE;
    }
    if (self->state == BUS_SEQUENCER_PAUSED) {
        return BUS_SEQUENCER_DROP;
    }
    if (seq == self->next) {
        //  Taken even while a replay is in flight: the replay repeats it,
        //  and its copy is then a duplicate.
        self->next++;
        return BUS_SEQUENCER_APPLY;
    }
    if (self->state == BUS_SEQUENCER_CATCHING_UP) {
        return BUS_SEQUENCER_DROP; //  the request in flight brings it
    }
    return s_request(self, BUS_SEQUENCER_GAP, now_ms);
}

//  --------------------------------------------------------------------------
//  A heartbeat: rule 5 (lost tail).

bus_sequencer_action_t
bus_sequencer_heartbeat(bus_sequencer_t *self, uint64_t last_seq, int64_t now_ms)
{
    assert(self);
    s_hear_tail(self, last_seq);
    if (self->state == BUS_SEQUENCER_LIVE && s_behind(self)) {
        return s_request(self, BUS_SEQUENCER_REPLAY, now_ms);
    }
    return BUS_SEQUENCER_NONE;
}

//  --------------------------------------------------------------------------
//  A reply: only the one to the request in flight is read; rule 6 for
//  TRIMMED.

bus_sequencer_action_t
bus_sequencer_reply(bus_sequencer_t *self, const bus_replay_reply_t *reply)
{
    assert(self);
    assert(reply);
    if (self->state != BUS_SEQUENCER_CATCHING_UP || self->reading ||
        reply->from_seq != self->replay_from) {
        return BUS_SEQUENCER_STALE;
    }
    if (reply->status == BUS_REPLAY_TRIMMED) {
        self->state = BUS_SEQUENCER_TRIMMED;
        return BUS_SEQUENCER_STOP;
    }
    if (reply->status != BUS_REPLAY_OK) {
        self->state = BUS_SEQUENCER_LIVE;
        return BUS_SEQUENCER_REFUSED;
    }
    s_hear_tail(self, reply->last_seq);
    self->reading = true;
    self->reading_from = reply->from_seq;
    self->reading_seq = reply->from_seq;
    self->reading_to = reply->to_seq;
    return BUS_SEQUENCER_READ;
}

bus_sequencer_action_t
bus_sequencer_replayed(bus_sequencer_t *self, uint64_t seq)
{
    assert(self);
    if (!self->reading || seq != self->reading_seq || seq > self->reading_to) {
        self->reading = false; //  the rest of this reply is not trusted
        return BUS_SEQUENCER_OUT_OF_ORDER;
    }
    self->reading_seq++;
    if (self->state == BUS_SEQUENCER_PAUSED || self->state == BUS_SEQUENCER_WAITING) {
        return BUS_SEQUENCER_DROP;
    }
    if (seq < self->next) {
        return BUS_SEQUENCER_DUPLICATE;
    }
    if (seq > self->next) {
        //  Cannot happen while taking in order from replay_from <= next;
        //  a reply starting past `next` is a publisher bug.
        self->reading = false;
        return BUS_SEQUENCER_OUT_OF_ORDER;
    }
    self->next++;
    return BUS_SEQUENCER_APPLY;
}

bus_sequencer_action_t
bus_sequencer_reply_done(bus_sequencer_t *self, int64_t now_ms)
{
    assert(self);
    bool carried = self->reading_seq > self->reading_from;
    self->reading = false;
    self->reading_seq = self->reading_from = 0;
    if (self->state != BUS_SEQUENCER_CATCHING_UP) {
        return BUS_SEQUENCER_NONE; //  paused or reset while reading
    }
    if (carried && s_behind(self)) {
        return s_request(self, BUS_SEQUENCER_REPLAY, now_ms);
    }
    self->state = BUS_SEQUENCER_LIVE;
    return BUS_SEQUENCER_NONE;
}

//  --------------------------------------------------------------------------
//  Time: resend a request that went unanswered.

bus_sequencer_action_t
bus_sequencer_tick(bus_sequencer_t *self, int64_t now_ms)
{
    assert(self);
    bool due = now_ms - self->replay_sent_ms >= self->replay_timeout_ms;
    if (self->state == BUS_SEQUENCER_CATCHING_UP && !self->reading && due) {
        return s_request(self, BUS_SEQUENCER_REPLAY, now_ms);
    }
    if (self->state == BUS_SEQUENCER_LIVE && s_behind(self) && due) {
        return s_request(self, BUS_SEQUENCER_REPLAY, now_ms);
    }
    return BUS_SEQUENCER_NONE;
}

//  --------------------------------------------------------------------------
//  Pausing

void
bus_sequencer_pause(bus_sequencer_t *self)
{
    assert(self);
    if (self->state == BUS_SEQUENCER_LIVE || self->state == BUS_SEQUENCER_CATCHING_UP) {
        self->state = BUS_SEQUENCER_PAUSED;
    }
}

bus_sequencer_action_t
bus_sequencer_resume(bus_sequencer_t *self, int64_t now_ms)
{
    assert(self);
    if (self->state != BUS_SEQUENCER_PAUSED) {
        return BUS_SEQUENCER_NONE;
    }
    self->state = BUS_SEQUENCER_LIVE;
    if (s_behind(self)) {
        return s_request(self, BUS_SEQUENCER_REPLAY, now_ms);
    }
    return BUS_SEQUENCER_NONE;
}

//  --------------------------------------------------------------------------
//  Accessors

bus_sequencer_state_t
bus_sequencer_state(const bus_sequencer_t *self)
{
    assert(self);
    return self->state;
}

uint64_t
bus_sequencer_next(const bus_sequencer_t *self)
{
    assert(self);
    return self->next;
}

uint64_t
bus_sequencer_replay_from(const bus_sequencer_t *self)
{
    assert(self);
    return self->replay_from;
}

uint64_t
bus_sequencer_last_seq(const bus_sequencer_t *self)
{
    assert(self);
    return self->last_seq;
}

const char *
bus_sequencer_state_name(bus_sequencer_state_t state)
{
    static const char *names[] = {"waiting", "live", "catching_up", "paused", "trimmed"};
    return (size_t) state < sizeof names / sizeof *names ? names[state] : "unknown";
}

const char *
bus_sequencer_action_name(bus_sequencer_action_t action)
{
    static const char *names[] = {"none", "apply", "duplicate", "drop",         "gap", "replay",
                                  "read", "stale", "refused",   "out_of_order", "stop"};
    return (size_t) action < sizeof names / sizeof *names ? names[action] : "unknown";
}
