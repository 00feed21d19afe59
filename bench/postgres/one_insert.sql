-- One autocommit insert.
\set id random(1, 2000000000)
INSERT INTO b_single (id, body) VALUES (:id, repeat('e', 300));
