-- Backorders: a record per sku (whether it may be backordered, its cap, how many units wait
-- now), written by the stock ledger's conditional write together with the cells; and the
-- backorder queue (orders placed and backordered, as `orderly_storage::index` derives it), a
-- side table like `order_picks`, maintained by the commit lanes in the snapshot's transaction.

-- The CHECK is the last line of defence: whatever the nodes decided, no write leaves more units
-- waiting than the sku's cap.
CREATE TABLE sku_backorders (
    sku     text PRIMARY KEY,
    allowed boolean NOT NULL,
    cap     bigint NOT NULL CHECK (cap >= 0),
    waiting bigint NOT NULL CHECK (waiting >= 0 AND waiting <= cap)
);

CREATE TABLE order_backorders (
    order_id uuid PRIMARY KEY
);

-- The conditional write gains the skus' records (one function, one call per change). It locks
-- the touched cells in the order given (the caller sorts them by warehouse, sku), then the
-- reservation, the restock marker and the sku records (sorted by sku); checks every one still
-- holds what the caller decided against (a row that is not there holds zeros, and a sku no
-- record: not backorderable, cap 0, nothing waiting); only then writes the new values and one
-- movement row per cell. Returns NULL when applied, or why not (nothing written). A row that
-- was not there is inserted, never upserted: a concurrent writer inserting the same row makes
-- the call fail with a unique violation (a conflict) instead of one overwriting the other. The
-- rows it located and locked are written one by one by their keys: an `UPDATE … FROM unnest(…)`
-- of them cost a fifth more per order (pg_stat_statements over a lifecycle, 0.94 against 0.73
-- ms; `bench/postgres/statements.sh`).
DROP FUNCTION orderly_write_stock(
    text[], text[], bigint[], bigint[], bigint[], bigint[], uuid, bytea, bytea, integer, text
);

CREATE FUNCTION orderly_write_stock(
    p_warehouses text[], p_skus text[],
    p_expected_on_hand bigint[], p_expected_reserved bigint[],
    p_on_hand bigint[], p_reserved bigint[],
    p_order uuid, p_reservation_expected bytea, p_reservation bytea,
    p_restock_step integer,
    p_bo_skus text[],
    p_bo_expected_allowed boolean[], p_bo_expected_cap bigint[], p_bo_expected_waiting bigint[],
    p_bo_allowed boolean[], p_bo_cap bigint[], p_bo_waiting bigint[],
    p_node text
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_warehouses, 1), 0);
    m integer := coalesce(array_length(p_bo_skus, 1), 0);
    cell_new boolean[] := '{}';
    sku_new boolean[] := '{}';
    cur record;
    stored bytea;
BEGIN
    FOR i IN 1 .. n LOOP
        SELECT on_hand, reserved INTO cur FROM stock
         WHERE warehouse = p_warehouses[i] AND sku = p_skus[i] FOR UPDATE;
        cell_new := cell_new || NOT FOUND;
        IF NOT FOUND THEN
            IF p_expected_on_hand[i] <> 0 OR p_expected_reserved[i] <> 0 THEN
                RETURN format('stock of %s at %s is not there', p_skus[i], p_warehouses[i]);
            END IF;
        ELSIF cur.on_hand <> p_expected_on_hand[i] OR cur.reserved <> p_expected_reserved[i] THEN
            RETURN format('stock of %s at %s is %s on hand, %s reserved; expected %s, %s',
                p_skus[i], p_warehouses[i], cur.on_hand, cur.reserved,
                p_expected_on_hand[i], p_expected_reserved[i]);
        END IF;
    END LOOP;
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
    FOR i IN 1 .. m LOOP
        SELECT allowed, cap, waiting INTO cur FROM sku_backorders
         WHERE sku = p_bo_skus[i] FOR UPDATE;
        sku_new := sku_new || NOT FOUND;
        IF NOT FOUND THEN
            IF p_bo_expected_allowed[i] OR p_bo_expected_cap[i] <> 0
               OR p_bo_expected_waiting[i] <> 0 THEN
                RETURN format('the backorder record of %s is not there', p_bo_skus[i]);
            END IF;
        ELSIF cur.allowed <> p_bo_expected_allowed[i] OR cur.cap <> p_bo_expected_cap[i]
              OR cur.waiting <> p_bo_expected_waiting[i] THEN
            RETURN format('the backorder record of %s is allowed %s, cap %s, %s waiting; expected %s, %s, %s',
                p_bo_skus[i], cur.allowed, cur.cap, cur.waiting,
                p_bo_expected_allowed[i], p_bo_expected_cap[i], p_bo_expected_waiting[i]);
        END IF;
    END LOOP;

    IF n > 0 THEN
        -- Each row was located and locked above: write it by its key (an UPDATE joined to the
        -- arrays, planned once for every size, cost about as much as the whole V2 function).
        FOR i IN 1 .. n LOOP
            IF cell_new[i] THEN
                INSERT INTO stock (warehouse, sku, on_hand, reserved)
                VALUES (p_warehouses[i], p_skus[i], p_on_hand[i], p_reserved[i]);
            ELSE
                UPDATE stock SET on_hand = p_on_hand[i], reserved = p_reserved[i]
                 WHERE warehouse = p_warehouses[i] AND sku = p_skus[i];
            END IF;
        END LOOP;
        INSERT INTO stock_movements
            (warehouse, sku, on_hand_delta, reserved_delta, on_hand, reserved, order_id, node_id)
        SELECT w, k, h - eh, r - er, h, r, p_order, p_node
          FROM unnest(p_warehouses, p_skus, p_expected_on_hand, p_expected_reserved, p_on_hand, p_reserved)
               AS x(w, k, eh, er, h, r);
    END IF;
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
    FOR i IN 1 .. m LOOP
        IF sku_new[i] THEN
            INSERT INTO sku_backorders (sku, allowed, cap, waiting)
            VALUES (p_bo_skus[i], p_bo_allowed[i], p_bo_cap[i], p_bo_waiting[i]);
        ELSE
            UPDATE sku_backorders SET allowed = p_bo_allowed[i], cap = p_bo_cap[i],
                   waiting = p_bo_waiting[i]
             WHERE sku = p_bo_skus[i];
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
