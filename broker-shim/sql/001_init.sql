-- The broker shim's tables: the outbox of events on their way to RabbitMQ,
-- the rows the relay could not encode, and the inbox of message ids that
-- came from RabbitMQ.

-- Events of our streams still to be published to RabbitMQ. The subscriber
-- handler inserts a row in the same transaction that raises its checkpoint,
-- so each event enters exactly once; the relay publishes the oldest rows of
-- its partitions (partition % REPLICA_COUNT = REPLICA_INDEX) with publisher
-- confirms and deletes them only once RabbitMQ confirmed them. envelope is
-- the packed protobuf Envelope as the stream published it.
CREATE TABLE shim_outbox (
    id          bigserial PRIMARY KEY,
    stream      text NOT NULL,
    seq         bigint NOT NULL,
    partition   integer NOT NULL,
    type        text NOT NULL,
    message_id  uuid NOT NULL,
    envelope    bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream, seq)
);

-- Rows of the outbox the relay could not turn into a RabbitMQ message (a
-- type with no .NET name, an envelope this build cannot read): moved here,
-- with the reason, so they never block the outbox. Operators look at them
-- and delete them.
CREATE TABLE shim_outbox_failed (
    id          bigint PRIMARY KEY,
    stream      text NOT NULL,
    seq         bigint NOT NULL,
    partition   integer NOT NULL,
    type        text NOT NULL,
    message_id  uuid NOT NULL,
    envelope    bytea NOT NULL,
    error       text NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);

-- Message ids of RabbitMQ messages appended to the shim's stream. The
-- consumer inserts the id in the same transaction that appends the event,
-- so a redelivery (or MassTransit's own re-publish with the same id) is
-- appended once, without a time window.
CREATE TABLE shim_inbox (
    message_id  uuid PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);
