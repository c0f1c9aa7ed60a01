-- The inventory's tables: stock per SKU and what was done for each order.

-- Units per SKU. `available` is free to reserve, `reserved` is held for
-- orders; reserving moves units from one to the other and releasing moves
-- them back, so their sum only changes through PUT /stock. The "C"
-- collation makes ORDER BY sku byte order: the order in which the service
-- locks rows and names the first short SKU. The CHECKs are the second
-- guard behind the service's own decision: stock never goes negative.
CREATE TABLE inventory_stock (
    sku        text COLLATE "C" PRIMARY KEY,
    available  bigint NOT NULL CHECK (available >= 0),
    reserved   bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per order inventory has heard of. RESERVED holds the units in
-- `items`; REJECTED reserved nothing (`reason` names the first short SKU);
-- RELEASED gave the units back on cancel; CANCELLED is the tombstone of a
-- cancel that arrived before its order, so the order reserves nothing.
-- `items` is the order's demand merged per SKU, in SKU order:
-- [{"sku": "SKU-1", "quantity": 2}, ...] ([] for a tombstone).
CREATE TABLE inventory_reservations (
    order_id   uuid PRIMARY KEY,
    status     text NOT NULL
               CHECK (status IN ('RESERVED', 'REJECTED', 'RELEASED', 'CANCELLED')),
    items      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(items) = 'array'),
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
