-- One transaction like an order transition: an event, a snapshot and an outbox row.
\set id random(1, 2000000000)
BEGIN;
INSERT INTO b_events (order_id, seq, body) VALUES (:id, 1, repeat('e', 300));
INSERT INTO b_orders (id, version, snapshot) VALUES (:id, 1, repeat('s', 900)) ON CONFLICT (id) DO UPDATE SET version = b_orders.version + 1;
INSERT INTO b_outbox (order_id, message, body) VALUES (:id, 'confirmed', repeat('o', 200)) ON CONFLICT DO NOTHING;
END;
