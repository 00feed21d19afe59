-- Stock changes commute, and transfers between warehouses.
--
-- Until V5 every stock write was a conditional write of absolute values: each cell had to
-- hold exactly what the writer had read. Nodes selling the same skus then refused each other's
-- writes all the time (each refusal costs a reload and a second decision), and three nodes
-- completed fewer orders than one. From V6 a write *adds* its changes to the cells (units on
-- hand, reserved, incoming) and to the skus' units waiting; the CHECK constraints on the
-- results are what keeps the ledger sound (nothing negative, no more reserved than on hand, no
-- more waiting than the cap), so two nodes reserving from the same cell both succeed while
-- there is stock, and the one that would oversell is refused. Only a person's count sets an
-- absolute on hand, and only an admin sets a sku's policy and cap. What keys an operation so
-- that it happens once stays conditional: the order's reservation record, the restock marker
-- and the transfer's version.

-- Units on their way to a warehouse in transfers.
ALTER TABLE stock ADD COLUMN incoming bigint NOT NULL DEFAULT 0 CHECK (incoming >= 0);
ALTER TABLE stock_movements
    ADD COLUMN incoming_delta bigint NOT NULL DEFAULT 0,
    ADD COLUMN incoming bigint NOT NULL DEFAULT 0;

-- A transfer: its record in the stored schema (`body`), its version (a write is conditional on
-- the version it was decided on) and the `Idempotency-Key` it was created with (unique: a
-- second transfer under the same key is refused).
CREATE TABLE transfers (
    id      uuid PRIMARY KEY,
    key     text NOT NULL UNIQUE,
    version integer NOT NULL CHECK (version > 0),
    body    bytea NOT NULL
);

DROP FUNCTION orderly_write_stock(
    text[], text[], bigint[], bigint[], bigint[], bigint[], uuid, bytea, bytea, integer,
    text[], boolean[], bigint[], bigint[], boolean[], bigint[], bigint[], text
);

-- One stock change, one call, its own transaction. First what keys the operation, locked and
-- checked: the reservation (as the caller expects it), the restock marker (not there yet),
-- the transfer (at the expected version, or not there). A mismatch returns why, with nothing
-- written. Then the changes, cells in the order given (the caller sorts them by warehouse,
-- sku, so two calls never deadlock), skus in sku order: the change added to what the row
-- holds (a count sets on hand), or a new row. A result a CHECK refuses raises, which undoes the
-- whole call (the caller reads it as a conflict). One movement row per cell.
CREATE FUNCTION orderly_apply_stock(
    p_warehouses text[], p_skus text[],
    p_on_hand bigint[], p_reserved bigint[], p_incoming bigint[], p_counted bigint[],
    p_order uuid, p_reservation_expected bytea, p_reservation bytea,
    p_restock_step integer,
    p_bo_skus text[], p_bo_waiting bigint[], p_bo_allowed boolean[], p_bo_cap bigint[],
    p_transfer uuid, p_transfer_key text, p_transfer_expected integer,
    p_transfer_version integer, p_transfer_body bytea,
    p_node text
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_warehouses, 1), 0);
    m integer := coalesce(array_length(p_bo_skus, 1), 0);
    stored bytea;
    stored_version integer;
    before_on_hand bigint;
    new_on_hand bigint[] := '{}';
    new_reserved bigint[] := '{}';
    new_incoming bigint[] := '{}';
    d_on_hand bigint[] := '{}';
    cur record;
BEGIN
    IF p_reservation IS NOT NULL THEN
        SELECT reservation INTO stored FROM reservations WHERE order_id = p_order FOR UPDATE;
        IF stored IS DISTINCT FROM p_reservation_expected THEN
            RETURN format('the reservation of order %s changed', p_order);
        END IF;
    END IF;
    IF p_restock_step IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM restocks WHERE order_id = p_order AND step = p_restock_step) THEN
            RETURN 'the restock was done already';
        END IF;
    END IF;
    IF p_transfer IS NOT NULL THEN
        SELECT version INTO stored_version FROM transfers WHERE id = p_transfer FOR UPDATE;
        IF stored_version IS DISTINCT FROM p_transfer_expected THEN
            RETURN format('transfer %s is at version %s, not %s',
                p_transfer, stored_version, p_transfer_expected);
        END IF;
    END IF;

    FOR i IN 1 .. n LOOP
        IF p_counted[i] IS NOT NULL THEN
            SELECT on_hand INTO before_on_hand FROM stock
             WHERE warehouse = p_warehouses[i] AND sku = p_skus[i] FOR UPDATE;
            d_on_hand := d_on_hand || (p_counted[i] - coalesce(before_on_hand, 0));
        ELSE
            d_on_hand := d_on_hand || p_on_hand[i];
        END IF;
        -- The change added to the row. Not INSERT … ON CONFLICT DO UPDATE: its CHECKs judge
        -- the proposed row (the changes alone) before it finds the existing one. A row not
        -- there yet is made empty first (two calls making it at once both get through), and
        -- then changed like any other.
        UPDATE stock AS s
           SET on_hand = coalesce(p_counted[i], s.on_hand + p_on_hand[i]),
               reserved = s.reserved + p_reserved[i],
               incoming = s.incoming + p_incoming[i]
         WHERE s.warehouse = p_warehouses[i] AND s.sku = p_skus[i]
        RETURNING s.on_hand, s.reserved, s.incoming INTO cur;
        IF NOT FOUND THEN
            INSERT INTO stock (warehouse, sku, on_hand, reserved, incoming)
            VALUES (p_warehouses[i], p_skus[i], 0, 0, 0)
            ON CONFLICT DO NOTHING;
            UPDATE stock AS s
               SET on_hand = coalesce(p_counted[i], s.on_hand + p_on_hand[i]),
                   reserved = s.reserved + p_reserved[i],
                   incoming = s.incoming + p_incoming[i]
             WHERE s.warehouse = p_warehouses[i] AND s.sku = p_skus[i]
            RETURNING s.on_hand, s.reserved, s.incoming INTO cur;
        END IF;
        new_on_hand := new_on_hand || cur.on_hand;
        new_reserved := new_reserved || cur.reserved;
        new_incoming := new_incoming || cur.incoming;
    END LOOP;
    IF n > 0 THEN
        INSERT INTO stock_movements
            (warehouse, sku, on_hand_delta, reserved_delta, incoming_delta,
             on_hand, reserved, incoming, order_id, node_id)
        SELECT w, k, dh, dr, di, h, r, c, coalesce(p_order, p_transfer), p_node
          FROM unnest(p_warehouses, p_skus, d_on_hand, p_reserved, p_incoming,
                      new_on_hand, new_reserved, new_incoming)
               AS x(w, k, dh, dr, di, h, r, c);
    END IF;
    FOR i IN 1 .. m LOOP
        -- As the cells: the change added, the row made empty first when not there yet.
        UPDATE sku_backorders AS b
           SET allowed = coalesce(p_bo_allowed[i], b.allowed),
               cap = coalesce(p_bo_cap[i], b.cap),
               waiting = b.waiting + p_bo_waiting[i]
         WHERE b.sku = p_bo_skus[i];
        IF NOT FOUND THEN
            INSERT INTO sku_backorders (sku, allowed, cap, waiting)
            VALUES (p_bo_skus[i], false, 0, 0)
            ON CONFLICT DO NOTHING;
            UPDATE sku_backorders AS b
               SET allowed = coalesce(p_bo_allowed[i], b.allowed),
                   cap = coalesce(p_bo_cap[i], b.cap),
                   waiting = b.waiting + p_bo_waiting[i]
             WHERE b.sku = p_bo_skus[i];
        END IF;
    END LOOP;

    IF p_reservation IS NOT NULL THEN
        IF stored IS NULL THEN
            INSERT INTO reservations (order_id, reservation) VALUES (p_order, p_reservation);
        ELSE
            UPDATE reservations SET reservation = p_reservation WHERE order_id = p_order;
        END IF;
    END IF;
    IF p_restock_step IS NOT NULL THEN
        INSERT INTO restocks (order_id, step) VALUES (p_order, p_restock_step);
    END IF;
    IF p_transfer IS NOT NULL THEN
        IF stored_version IS NULL THEN
            INSERT INTO transfers (id, key, version, body)
            VALUES (p_transfer, p_transfer_key, p_transfer_version, p_transfer_body);
        ELSE
            UPDATE transfers SET version = p_transfer_version, body = p_transfer_body
             WHERE id = p_transfer;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
