-- Stock alerts: cells' reorder points with their low-stock state, back-in-stock subscriptions,
-- and stock notices in the outbox. (V6 is left to the stock ledger's own next change.)

-- A stock cell's alert record (`orderly_storage::schema`: reorder point, whether an alert went
-- out for the current fall, how many were sent, the cell's stable id), written by the stock
-- alerts' conditional write (`write_alerts`) together with the notices it decided.
CREATE TABLE stock_alerts (
    warehouse text COLLATE "C" NOT NULL,
    sku       text COLLATE "C" NOT NULL,
    record    bytea NOT NULL,
    PRIMARY KEY (warehouse, sku)
);

-- Subscriptions waiting for a sku to be available again: one per contact and sku (the primary
-- key), at most a bound per sku (checked under a per-sku advisory lock when one is added).
CREATE TABLE stock_subscriptions (
    sku     text COLLATE "C" NOT NULL,
    contact text COLLATE "C" NOT NULL,
    id      uuid NOT NULL UNIQUE,
    record  bytea NOT NULL,
    PRIMARY KEY (sku, contact)
);

-- A stock notice is about no order: its outbox row has neither order nor step (an order's
-- message always has both). Rows written before keep theirs.
ALTER TABLE outbox ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE outbox ALTER COLUMN step DROP NOT NULL;
ALTER TABLE outbox ADD CONSTRAINT outbox_order_or_notice CHECK ((order_id IS NULL) = (step IS NULL));
