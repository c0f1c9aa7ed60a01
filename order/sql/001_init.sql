-- The order service's tables: orders and their lines, and the idempotency
-- records of POST /orders (002_history.sql adds the read model's history).
-- Every row is written by order/src/order_store.c inside a unit of work of
-- the order stream's writer, in the same transaction as its events.

-- One row per order. status, stock_reserved and payment_started are the
-- read model (order_logic.h); cancel_reason is set by a cancel request or
-- by the compensation of a StockRejected. trace_id is the W3C trace id of
-- the request that created the order, for logs.
CREATE TABLE orders (
    order_id        uuid PRIMARY KEY,
    customer_id     text NOT NULL,
    currency        text NOT NULL,
    total_minor     bigint NOT NULL CHECK (total_minor >= 0),
    status          text NOT NULL
                    CHECK (status IN ('PENDING', 'RESERVED', 'PAYMENT_STARTED', 'REJECTED',
                                      'CANCELLED')),
    stock_reserved  boolean NOT NULL DEFAULT false,
    payment_started boolean NOT NULL DEFAULT false,
    cancel_reason   text,
    trace_id        text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- GET /orders?customerId=&after= pages newest first by order id (UUID v7
-- ids are time-ordered).
CREATE INDEX orders_by_customer ON orders (customer_id, order_id);

-- The order lines, in request order (line 1, 2, ...). No foreign key: the
-- lines are only ever inserted by the statement that inserts the order,
-- and a key check would cost a probe per line on the hot path.
CREATE TABLE order_items (
    order_id         uuid NOT NULL,
    line             integer NOT NULL,
    sku              text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (order_id, line)
);

-- Idempotency-Key -> the order it created, and a SHA-256 of the canonical
-- command (order_api_fingerprint), so a retry with the same key and the
-- same request gets that order and one with another request is refused.
-- Kept forever: a key means the same order also after a restart.
CREATE TABLE order_idempotency (
    idempotency_key text PRIMARY KEY,
    fingerprint     bytea NOT NULL,
    order_id        uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
