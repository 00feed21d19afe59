-- Messages delivered to people (e-mail, SMS, WhatsApp), kept on their order's message log so
-- support can see what was sent, where and when (`GET /v1/orders/{id}/notifications`). Written
-- with the outbox row's deletion in one lane batch; a redelivery after a crash keeps the first.
CREATE TABLE sent_messages (
    order_id   uuid NOT NULL,
    message_id text COLLATE "C" NOT NULL,
    sent_at    timestamptz NOT NULL,
    record     bytea NOT NULL,
    PRIMARY KEY (order_id, message_id)
);

-- An order's outbox rows and dead letters, found without scanning the tables.
CREATE INDEX outbox_by_order ON outbox (order_id);
CREATE INDEX dead_letters_by_id_prefix ON dead_letters (message_id text_pattern_ops);
