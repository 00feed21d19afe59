CREATE TABLE IF NOT EXISTS b_events (order_id bigint, seq int, body text, PRIMARY KEY (order_id, seq)) ;
CREATE TABLE IF NOT EXISTS b_orders (id bigint PRIMARY KEY, version int, snapshot text);
CREATE TABLE IF NOT EXISTS b_outbox (order_id bigint, message text, body text, PRIMARY KEY (order_id, message));
CREATE TABLE IF NOT EXISTS b_single (id bigint, body text);
