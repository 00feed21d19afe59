-- The stock ledger's conditional write as one call (one round trip): lock the touched cells in
-- the order given (the caller sorts them by warehouse, sku), the reservation and the restock
-- marker; check every one still holds what the caller decided against; only then write the new
-- values and one movement row per cell. Returns NULL when applied, or why not (nothing written).
CREATE FUNCTION orderly_write_stock(
    p_warehouses text[], p_skus text[],
    p_expected_on_hand bigint[], p_expected_reserved bigint[],
    p_on_hand bigint[], p_reserved bigint[],
    p_order uuid, p_reservation_expected bytea, p_reservation bytea,
    p_restock_step integer, p_node text
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_warehouses, 1), 0);
    cur record;
    stored bytea;
BEGIN
    FOR i IN 1 .. n LOOP
        SELECT on_hand, reserved INTO cur FROM stock
         WHERE warehouse = p_warehouses[i] AND sku = p_skus[i] FOR UPDATE;
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

    IF n > 0 THEN
        INSERT INTO stock (warehouse, sku, on_hand, reserved)
        SELECT * FROM unnest(p_warehouses, p_skus, p_on_hand, p_reserved)
        ON CONFLICT (warehouse, sku) DO UPDATE
            SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved;
        INSERT INTO stock_movements
            (warehouse, sku, on_hand_delta, reserved_delta, on_hand, reserved, order_id, node_id)
        SELECT w, k, h - eh, r - er, h, r, p_order, p_node
          FROM unnest(p_warehouses, p_skus, p_expected_on_hand, p_expected_reserved, p_on_hand, p_reserved)
               AS x(w, k, eh, er, h, r);
    END IF;
    IF p_reservation IS NOT NULL THEN
        INSERT INTO reservations (order_id, reservation) VALUES (p_order, p_reservation)
        ON CONFLICT (order_id) DO UPDATE SET reservation = EXCLUDED.reservation;
    END IF;
    IF p_restock_step IS NOT NULL THEN
        INSERT INTO restocks (order_id, step) VALUES (p_order, p_restock_step);
    END IF;
    RETURN NULL;
END;
$$;
