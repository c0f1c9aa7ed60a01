-- Billing's table: one payment per order.

-- STARTED holds the order total (amount_minor in the currency's minor
-- units, ISO 4217 currency) from its OrderCreated. VOIDED was cancelled:
-- after a start (started_at set), or before the order arrived (a tombstone:
-- started_at stays NULL, and amount/currency are NULL until the order's
-- OrderCreated fills them in without starting it). trace_id is the trace
-- of the order's OrderCreated (of the cancel while only a tombstone).
CREATE TABLE billing_payments (
    order_id     uuid PRIMARY KEY,
    status       text NOT NULL CHECK (status IN ('STARTED', 'VOIDED')),
    amount_minor bigint CHECK (amount_minor >= 0),
    currency     text CHECK (currency ~ '^[A-Z]{3}$'),
    trace_id     text CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    started_at   timestamptz,
    voided_at    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((amount_minor IS NULL) = (currency IS NULL)),
    CHECK (status = 'VOIDED' OR (amount_minor IS NOT NULL AND started_at IS NOT NULL)),
    CHECK ((status = 'VOIDED') = (voided_at IS NOT NULL))
);
