-- The read model: the history of every event about an order.

-- Every event about an order that this service recorded, in the order
-- recorded (id): the events it published (OrderCreated, OrderCancelled)
-- and those it applied to the read model. message_id is unique, so an
-- event is recorded (and applied) at most once. seq is the event's seq in
-- `stream`; for our own events it is filled in by the trigger below when
-- the stream's writer inserts them into bus_events, later in the same
-- transaction. Free space on each page keeps that update HOT.
CREATE TABLE order_history (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    order_id    uuid NOT NULL,
    event       text NOT NULL,
    stream      text NOT NULL,
    seq         bigint,
    message_id  uuid NOT NULL UNIQUE,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    reason      text,
    PRIMARY KEY (order_id, id)
) WITH (fillfactor = 80);

-- A unit of work learns its events' seqs only when the writer inserts the
-- batch's events into bus_events (one COPY, after every unit ran, in the
-- same transaction). This statement trigger copies them into the history
-- rows of our own events, matched by message id: one UPDATE per batch.
CREATE FUNCTION order_history_fill_seq() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE order_history AS history
       SET seq = appended.seq
      FROM order_appended_events AS appended
     WHERE history.message_id = appended.message_id
       AND history.stream = appended.stream
       AND appended.type IN ('OrderCreated', 'OrderCancelled');
    RETURN NULL;
END
$$;

CREATE TRIGGER order_history_seq
    AFTER INSERT ON bus_events
    REFERENCING NEW TABLE AS order_appended_events
    FOR EACH STATEMENT EXECUTE FUNCTION order_history_fill_seq();
