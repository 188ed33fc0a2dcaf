#!/usr/bin/env bash
# sqlite.sh: sqlite3 on libmalloc: a 100k-row table filled by a recursive
# CTE, an index, aggregates, a join and a sort.
source "$(dirname "$0")/common.sh"
need sqlite3

cat >"$WORK/work.sql" <<'SQLEOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 100000)
INSERT INTO t SELECT n, n % 97, printf('name-%06d-%s', n, hex(n * 2654435761 % 1000003)), (n * 37 % 1000) / 7.0 FROM seq;
CREATE INDEX t_grp ON t(grp, name);
SELECT count(*), sum(grp), printf('%.3f', avg(val)), min(name), max(name) FROM t;
SELECT grp, count(*), printf('%.2f', sum(val)) FROM t GROUP BY grp ORDER BY sum(val) DESC LIMIT 5;
SELECT count(DISTINCT substr(name, 13)) FROM t;
CREATE TABLE g AS SELECT grp, group_concat(id, ',') AS ids FROM (SELECT grp, id FROM t WHERE id % 1000 = 0) GROUP BY grp;
SELECT g.grp, length(g.ids), count(t.id) FROM g JOIN t ON t.grp = g.grp GROUP BY g.grp ORDER BY g.grp LIMIT 5;
SELECT name FROM t ORDER BY val DESC, name LIMIT 3;
DELETE FROM t WHERE id % 3 = 0;
VACUUM;
SELECT count(*), total(val) FROM t;
SQLEOF

compare_runs sqlite sqlite3 -batch ":memory:" -init /dev/null ".read $WORK/work.sql"
