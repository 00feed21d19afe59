-- Orderly's PostgreSQL schema, version 1. Records are the stored schema's v1 encoding (a
-- version byte, then JSON) in bytea columns; the columns beside them are what queries,
-- indexes and constraints need.

-- One row per order: the committed snapshot and the columns the indexes are built on.
CREATE TABLE orders (
    id              uuid PRIMARY KEY,
    version         integer NOT NULL CHECK (version > 0),
    status          text NOT NULL,
    tracking_token  text NOT NULL UNIQUE,
    tracking_number text UNIQUE,
    -- The warehouse whose pick list holds the order (confirmed orders only).
    pick_warehouse  text,
    snapshot        bytea NOT NULL
);
CREATE INDEX orders_by_status ON orders (status, id);
CREATE INDEX orders_pick_list ON orders (pick_warehouse, id) WHERE pick_warehouse IS NOT NULL;

-- Every event of every order, one row each. `first_seq` is the first seq of the transition
-- that recorded it, so a history reads back grouped per transition.
CREATE TABLE events (
    order_id  uuid NOT NULL,
    seq       integer NOT NULL CHECK (seq > 0),
    first_seq integer NOT NULL CHECK (first_seq > 0 AND first_seq <= seq),
    body      bytea NOT NULL,
    PRIMARY KEY (order_id, seq)
);

-- What an Idempotency-Key was first used for.
CREATE TABLE idempotency (
    key      text PRIMARY KEY,
    order_id uuid NOT NULL,
    record   bytea NOT NULL
);

-- Nodes sharing this database, with their heartbeat. A node whose heartbeat is older than the
-- lease is dead: any live node takes over its outbox entries and timers.
CREATE TABLE nodes (
    node_id      text PRIMARY KEY,
    incarnation  uuid NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

-- Messages still to deliver, each owned by the node delivering it (NULL: nobody yet).
CREATE TABLE outbox (
    message_id text PRIMARY KEY,
    order_id   uuid NOT NULL,
    step       integer NOT NULL,
    owner      text,
    entry      bytea NOT NULL
);
CREATE INDEX outbox_by_owner ON outbox (owner);

CREATE TABLE dead_letters (
    message_id text PRIMARY KEY,
    failed_at  timestamptz NOT NULL,
    letter     bytea NOT NULL
);

-- Pending timers, each owned by the node that fires it (NULL: nobody yet).
CREATE TABLE timers (
    order_id uuid NOT NULL,
    kind     text NOT NULL,
    due      timestamptz NOT NULL,
    owner    text,
    PRIMARY KEY (order_id, kind, due)
);
CREATE INDEX timers_by_due ON timers (due);

-- The stock ledger. The CHECK is the last line against overselling: no write can leave a cell
-- with more reserved than on hand, whatever the nodes decided.
CREATE TABLE stock (
    warehouse text NOT NULL,
    sku       text NOT NULL,
    on_hand   bigint NOT NULL CHECK (on_hand >= 0),
    reserved  bigint NOT NULL CHECK (reserved >= 0 AND reserved <= on_hand),
    PRIMARY KEY (warehouse, sku)
);

CREATE TABLE reservations (
    order_id    uuid PRIMARY KEY,
    reservation bytea NOT NULL
);

CREATE TABLE restocks (
    order_id uuid NOT NULL,
    step     integer NOT NULL,
    PRIMARY KEY (order_id, step)
);

-- Append-only record of every change to a stock cell: the audit trail of the ledger.
CREATE TABLE stock_movements (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    warehouse        text NOT NULL,
    sku              text NOT NULL,
    on_hand_delta    bigint NOT NULL,
    reserved_delta   bigint NOT NULL,
    on_hand          bigint NOT NULL,
    reserved         bigint NOT NULL,
    order_id         uuid,
    node_id          text NOT NULL
);
CREATE INDEX stock_movements_by_cell ON stock_movements (warehouse, sku, id);

CREATE FUNCTION stock_movements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_movements is append-only';
END;
$$;
CREATE TRIGGER stock_movements_append_only
    BEFORE UPDATE OR DELETE ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION stock_movements_append_only();
