-- Export pages through idempotency keys in byte order (COLLATE "C", as sled's keys sort), so
-- both backends export the same file. The primary key's index follows the database's default
-- collation and cannot serve that order: without this index every page scanned and sorted the
-- whole table (64 ms a page at 200,000 keys).
CREATE INDEX idempotency_by_key_bytes ON idempotency (key COLLATE "C");
