-- The event bus's tables: streams and their event log (the outbox, the
-- source of every replay), consumer checkpoints (the inbox), dead letters.

-- One row per stream this database writes. last_seq is advanced by the
-- stream's single writer in the same transaction as the events, so it is
-- the committed tail; first_seq is the lowest seq retention has kept.
CREATE TABLE bus_streams (
    stream     text PRIMARY KEY,
    last_seq   bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    first_seq  bigint NOT NULL DEFAULT 1 CHECK (first_seq >= 1),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The event log. envelope holds the packed protobuf Envelope exactly as it
-- is published, so replay sends the same bytes without re-encoding.
CREATE TABLE bus_events (
    stream      text NOT NULL,
    seq         bigint NOT NULL,
    type        text NOT NULL,
    partition   integer NOT NULL,
    message_id  uuid NOT NULL,
    envelope    bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, seq)
);

-- Checkpoints: the last seq applied per (consumer group, stream, partition),
-- updated in the same transaction as the handler's effects.
CREATE TABLE bus_checkpoints (
    consumer   text NOT NULL,
    stream     text NOT NULL,
    partition  integer NOT NULL,
    last_seq   bigint NOT NULL CHECK (last_seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, stream, partition)
);

-- Events whose handler kept failing. The checkpoint moved past them in the
-- same transaction that parked them here; operators retry or discard.
CREATE TABLE bus_dead_letters (
    id              bigserial PRIMARY KEY,
    consumer        text NOT NULL,
    stream          text NOT NULL,
    seq             bigint NOT NULL,
    partition       integer NOT NULL,
    type            text NOT NULL,
    message_id      uuid NOT NULL,
    envelope        bytea NOT NULL,
    error           text NOT NULL,
    attempts        integer NOT NULL,
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    retry_requested boolean NOT NULL DEFAULT false,
    UNIQUE (consumer, stream, seq)
);
