-- An order may now be on several warehouses' pick lists (one per shipment still to pick) and
-- have several carrier tracking numbers (one per booked shipment): the single-valued columns
-- `orders.pick_warehouse` and `orders.tracking_number` become side tables, maintained by the
-- commit lanes in the same transaction as the snapshot, with the rows `OrderIndex` derives
-- (orderly_storage::index). Their contents carry over: an order stored before shipments is
-- on the pick list of its one warehouse while confirmed, and found by its one booking.

CREATE TABLE order_picks (
    warehouse text NOT NULL,
    order_id  uuid NOT NULL,
    PRIMARY KEY (warehouse, order_id)
);
CREATE INDEX order_picks_by_order ON order_picks (order_id);

CREATE TABLE order_tracking (
    tracking_number text PRIMARY KEY,
    order_id        uuid NOT NULL
);
CREATE INDEX order_tracking_by_order ON order_tracking (order_id);

INSERT INTO order_picks (warehouse, order_id)
    SELECT pick_warehouse, id FROM orders WHERE pick_warehouse IS NOT NULL;
INSERT INTO order_tracking (tracking_number, order_id)
    SELECT tracking_number, id FROM orders WHERE tracking_number IS NOT NULL;

-- Nothing reads or writes them any more; a node of the release before (which would) cannot
-- read this release's v2 records anyway.
DROP INDEX orders_pick_list;
ALTER TABLE orders DROP COLUMN pick_warehouse, DROP COLUMN tracking_number;
