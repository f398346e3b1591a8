#!/usr/bin/env bash
# tests/data/make-ha-recorder.sh OUT.db [ROWS]
#
# Write a SQLite database shaped like Home Assistant's recorder
# (home-assistant_v2.db, schema 4x, 2024): states_meta, state_attributes,
# states, statistics_meta, statistics, recorder_runs, schema_changes, with
# HA's column types, keys and indexes, and ROWS (default 60000) states of 50
# entities over 30 days:
#   12 sensor.*_power (W, daily load curve), 12 sensor.*_temperature (°C,
#   outdoor ones go below zero), 10 binary_sensor.*_motion, 8 switch.*,
#   8 light.* (brightness in the attributes); now and then 'unavailable' or
#   'unknown'. Power sensors report 3x and temperatures 2x as often as the
#   others.
# Like HA: timestamps are float epoch seconds with microseconds; the legacy
# text columns (entity_id, attributes, last_changed, ...) are NULL;
# old_state_id links each state to the previous state of the same entity;
# last_changed_ts is NULL when it equals last_updated_ts; context_id_bin is a
# 16-byte ULID-like blob (any byte value, NULs included); attributes are
# deduplicated JSON text; statistics are hourly (mean/min/max for
# measurements, state/sum for two external energy meters); the database is
# left in WAL mode.
#
# Pure sqlite3 CLI (recursive CTEs and window functions), no randomness:
# the same ROWS always gives the same content.
set -euo pipefail

usage() { echo "usage: $0 OUT.db [ROWS]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
out=$1
rows=${2:-60000}
[[ "$rows" =~ ^[0-9]+$ && "$rows" -ge 1 && "$rows" -le 200000000 ]] ||
	{ echo "make-ha-recorder: ROWS must be an integer in 1..200000000, got '$rows'" >&2; exit 2; }
command -v sqlite3 >/dev/null ||
	{ echo "make-ha-recorder: sqlite3 CLI not found; run 'make deps'" >&2; exit 1; }

tmp="$out.tmp$$"
rm -f -- "$tmp" "$tmp-wal" "$tmp-shm" "$tmp-journal"
trap 'rm -f -- "$tmp" "$tmp-wal" "$tmp-shm" "$tmp-journal"' EXIT

# 2024-01-01T00:00:00Z, 30 days
base=1704067200
span=2592000

sqlite3 -bail "$tmp" >/dev/null <<SQL
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA foreign_keys = OFF;
BEGIN;

-- ------------------------------------------------------------ HA schema
CREATE TABLE states_meta (
	metadata_id INTEGER NOT NULL,
	entity_id VARCHAR(255),
	PRIMARY KEY (metadata_id)
);
CREATE TABLE state_attributes (
	attributes_id INTEGER NOT NULL,
	hash BIGINT,
	shared_attrs TEXT,
	PRIMARY KEY (attributes_id)
);
CREATE TABLE states (
	state_id INTEGER NOT NULL,
	entity_id CHAR(0),
	state VARCHAR(255),
	attributes CHAR(0),
	event_id SMALLINT,
	last_changed DATETIME,
	last_changed_ts FLOAT,
	last_reported_ts FLOAT,
	last_updated DATETIME,
	last_updated_ts FLOAT,
	old_state_id INTEGER,
	attributes_id INTEGER,
	context_id CHAR(0),
	context_user_id CHAR(0),
	context_parent_id CHAR(0),
	origin_idx SMALLINT,
	context_id_bin BLOB,
	context_user_id_bin BLOB,
	context_parent_id_bin BLOB,
	metadata_id INTEGER,
	PRIMARY KEY (state_id),
	FOREIGN KEY(old_state_id) REFERENCES states (state_id),
	FOREIGN KEY(attributes_id) REFERENCES state_attributes (attributes_id),
	FOREIGN KEY(metadata_id) REFERENCES states_meta (metadata_id)
);
CREATE TABLE statistics_meta (
	id INTEGER NOT NULL,
	statistic_id VARCHAR(255),
	source VARCHAR(32),
	unit_of_measurement VARCHAR(255),
	has_mean BOOLEAN,
	has_sum BOOLEAN,
	name VARCHAR(255),
	PRIMARY KEY (id)
);
CREATE TABLE statistics (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	created DATETIME,
	created_ts FLOAT,
	metadata_id INTEGER,
	start DATETIME,
	start_ts FLOAT,
	mean FLOAT,
	min FLOAT,
	max FLOAT,
	last_reset DATETIME,
	last_reset_ts FLOAT,
	state FLOAT,
	sum FLOAT,
	FOREIGN KEY(metadata_id) REFERENCES statistics_meta (id) ON DELETE CASCADE
);
CREATE TABLE recorder_runs (
	run_id INTEGER NOT NULL,
	start DATETIME NOT NULL,
	"end" DATETIME,
	closed_incorrect BOOLEAN NOT NULL,
	created DATETIME NOT NULL,
	PRIMARY KEY (run_id)
);
CREATE TABLE schema_changes (
	change_id INTEGER NOT NULL,
	schema_version INTEGER,
	changed DATETIME NOT NULL,
	PRIMARY KEY (change_id)
);

-- ------------------------------------------------------------ entities
CREATE TEMP TABLE room(r INTEGER PRIMARY KEY, slug TEXT, name TEXT, outdoor INT);
INSERT INTO room VALUES
	(1, 'living_room', 'Living Room', 0), (2, 'kitchen', 'Kitchen', 0),
	(3, 'bedroom', 'Bedroom', 0), (4, 'office', 'Office', 0),
	(5, 'bathroom', 'Bathroom', 0), (6, 'garage', 'Garage', 0),
	(7, 'hallway', 'Hallway', 0), (8, 'basement', 'Basement', 0),
	(9, 'attic', 'Attic', 0), (10, 'garden', 'Garden', 1),
	(11, 'laundry', 'Laundry', 0), (12, 'balcony', 'Balcony', 1);
CREATE TEMP TABLE dev(d INTEGER PRIMARY KEY, slug TEXT, name TEXT);
INSERT INTO dev VALUES
	(1, 'coffee_maker', 'Coffee Maker'), (2, 'heat_pump', 'Heat Pump'),
	(3, 'dishwasher', 'Dishwasher'), (4, 'washing_machine', 'Washing Machine'),
	(5, 'tv', 'TV'), (6, 'router', 'Router'), (7, 'garden_pump', 'Garden Pump'),
	(8, 'ev_charger', 'EV Charger');

-- kind, weight (reports per round), display name
CREATE TEMP TABLE ent(metadata_id INTEGER PRIMARY KEY, entity_id TEXT, kind TEXT,
	name TEXT, weight INT, outdoor INT);
INSERT INTO ent(entity_id, kind, name, weight, outdoor)
	SELECT 'sensor.' || slug || '_power', 'power', name || ' Power', 3, 0 FROM room ORDER BY r;
INSERT INTO ent(entity_id, kind, name, weight, outdoor)
	SELECT 'sensor.' || slug || '_temperature', 'temperature', name || ' Temperature', 2, outdoor
	FROM room ORDER BY r;
INSERT INTO ent(entity_id, kind, name, weight, outdoor)
	SELECT 'binary_sensor.' || slug || '_motion', 'motion', name || ' Motion', 1, 0
	FROM room WHERE r <= 10 ORDER BY r;
INSERT INTO ent(entity_id, kind, name, weight, outdoor)
	SELECT 'switch.' || slug, 'switch', name, 1, 0 FROM dev ORDER BY d;
INSERT INTO ent(entity_id, kind, name, weight, outdoor)
	SELECT 'light.' || slug || '_ceiling', 'light', name || ' Ceiling', 1, 0
	FROM room WHERE r <= 8 ORDER BY r;

INSERT INTO states_meta(metadata_id, entity_id) SELECT metadata_id, entity_id FROM ent;

-- Slots interleave entities by weight: a round has 86 reports.
CREATE TEMP TABLE slot(s INTEGER PRIMARY KEY, metadata_id INT);
INSERT INTO slot(s, metadata_id)
	SELECT row_number() OVER (ORDER BY k.k, e.metadata_id) - 1, e.metadata_id
	FROM ent e JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) k ON k.k <= e.weight;

-- Two-byte blobs 0x0000..0xFFFF, to build binary context ids without unhex().
CREATE TEMP TABLE b1(k INTEGER PRIMARY KEY, b BLOB);
WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 255)
INSERT INTO b1 SELECT k, NULL FROM n;
UPDATE b1 SET b = CAST(char(k) AS BLOB) WHERE k < 128;
$(for ((i = 128; i < 256; i++)); do printf "UPDATE b1 SET b = X'%02X' WHERE k = %d;\n" "$i" "$i"; done)
CREATE TEMP TABLE b2(k INTEGER PRIMARY KEY, b BLOB);
INSERT INTO b2 SELECT hi.k * 256 + lo.k, CAST(hi.b || lo.b AS BLOB) FROM b1 hi, b1 lo;

-- ------------------------------------------------------------ states
-- Pass 1: which entity reports at row i, when, what, with which attributes.
CREATE TEMP TABLE r(
	i INTEGER PRIMARY KEY, metadata_id INT, kind TEXT, ts REAL, h INT, n INT,
	state TEXT, attributes_id INT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $rows)
INSERT INTO r(i, metadata_id, kind, ts, h)
	SELECT c.i, s.metadata_id, e.kind,
		round($base + (c.i - 1) * ($span.0 / $rows)
			+ ($span.0 / $rows) * ((c.i * 7919) % 1000) / 2000.0
			+ ((c.i * 2654435761 + 40503) % 4294967296 % 997) / 1000000.0, 6),
		(c.i * 2654435761 + 40503) % 4294967296
	FROM c
	JOIN slot s ON s.s = (c.i - 1) % 86
	JOIN ent e ON e.metadata_id = s.metadata_id;

-- n: the how-many-th report of its entity (binary entities alternate on/off)
UPDATE r SET n = x.n FROM (
	SELECT i, row_number() OVER (PARTITION BY metadata_id ORDER BY i) AS n FROM r) x
	WHERE x.i = r.i;

UPDATE r SET state = CASE
	WHEN kind IN ('power', 'temperature') AND h % 997 = 0 THEN 'unavailable'
	WHEN kind IN ('power', 'temperature') AND h % 1499 = 1 THEN 'unknown'
	WHEN kind NOT IN ('power', 'temperature') AND h % 211 = 0 THEN 'unavailable'
	WHEN kind = 'power' THEN printf('%.1f', max(0.0,
		(15 + (metadata_id * 37) % 240)
		* (1.0 + 0.7 * sin(2 * pi() * ((ts % 86400) - 21600) / 86400))
		+ (h % 1000) / 20.0))
	WHEN kind = 'temperature' THEN printf('%.1f',
		CASE (SELECT outdoor FROM ent WHERE ent.metadata_id = r.metadata_id)
		WHEN 1 THEN 2.0 + 7.0 * sin(2 * pi() * ((ts % 86400) - 28800) / 86400)
			- 4.0 * cos(2 * pi() * (ts - $base) / $span)
		ELSE 19.5 + (metadata_id % 5) * 0.5
			+ 1.5 * sin(2 * pi() * ((ts % 86400) - 25200) / 86400)
		END + ((h % 100) - 50) / 100.0)
	WHEN n % 2 = 1 THEN 'on'
	ELSE 'off'
END;

-- Attributes: metadata_id * 10 + variant; variant 0 the entity's usual set,
-- 1-4 a light's brightness levels, 5 a light that is off, 9 unavailable.
UPDATE r SET attributes_id = metadata_id * 10 + CASE
	WHEN state IN ('unavailable', 'unknown') THEN 9
	WHEN kind = 'light' AND state = 'on' THEN 1 + h % 4
	WHEN kind = 'light' THEN 5
	ELSE 0 END;

INSERT INTO state_attributes(attributes_id, hash, shared_attrs)
	SELECT a.attributes_id, (a.attributes_id * 2246822519 + 3266489917) % 4294967296, a.js
	FROM (
	SELECT DISTINCT r.attributes_id, CASE
		WHEN r.attributes_id % 10 = 9 THEN json_object('restored', json('true'),
			'friendly_name', e.name, 'supported_features', 0)
		WHEN e.kind = 'power' THEN json_object('state_class', 'measurement',
			'unit_of_measurement', 'W', 'device_class', 'power', 'friendly_name', e.name)
		WHEN e.kind = 'temperature' THEN json_object('state_class', 'measurement',
			'unit_of_measurement', '°C', 'device_class', 'temperature',
			'friendly_name', e.name)
		WHEN e.kind = 'motion' THEN json_object('device_class', 'motion',
			'friendly_name', e.name)
		WHEN e.kind = 'switch' THEN json_object('friendly_name', e.name)
		WHEN r.attributes_id % 10 = 5 THEN json_object('min_color_temp_kelvin', 2202,
			'max_color_temp_kelvin', 6535, 'supported_color_modes',
			json_array('brightness', 'color_temp'), 'color_mode', NULL,
			'brightness', NULL, 'friendly_name', e.name, 'supported_features', 40)
		ELSE json_object('min_color_temp_kelvin', 2202,
			'max_color_temp_kelvin', 6535, 'supported_color_modes',
			json_array('brightness', 'color_temp'), 'color_mode', 'color_temp',
			'brightness', 64 * (r.attributes_id % 10) - 1, 'color_temp_kelvin', 2700,
			'friendly_name', e.name, 'supported_features', 40)
		END AS js
	FROM r JOIN ent e ON e.metadata_id = r.metadata_id
	) a ORDER BY a.attributes_id;

-- Pass 2: links along each entity's history, then the HA row.
INSERT INTO states(state_id, state, last_changed_ts, last_reported_ts, last_updated_ts,
	old_state_id, attributes_id, origin_idx, context_id_bin, context_user_id_bin,
	context_parent_id_bin, metadata_id)
SELECT i, state,
	CASE WHEN changed_at = ts THEN NULL ELSE changed_at END,
	CASE WHEN changed_at = ts THEN NULL ELSE ts END,
	ts, prev, attributes_id, 0,
	-- ULID-like: 48-bit milliseconds, then 80 bits from the row hash
	CAST((SELECT b FROM b2 WHERE k = (ms >> 32) & 65535)
		|| (SELECT b FROM b2 WHERE k = (ms >> 16) & 65535)
		|| (SELECT b FROM b2 WHERE k = ms & 65535)
		|| (SELECT b FROM b2 WHERE k = h & 65535)
		|| (SELECT b FROM b2 WHERE k = (h >> 16) & 65535)
		|| (SELECT b FROM b2 WHERE k = (i * 40503) & 65535)
		|| (SELECT b FROM b2 WHERE k = (i * 2654435761 >> 13) & 65535)
		|| (SELECT b FROM b2 WHERE k = (h * 31 + i) & 65535) AS BLOB),
	CASE WHEN kind IN ('switch', 'light') AND h % 3 = 0
		THEN X'3D1A0C5B7E2F4A11B0C4D2E6F8091A2B' END,
	CASE WHEN kind = 'light' AND h % 3 = 1
		THEN CAST((SELECT b FROM b2 WHERE k = (ms >> 32) & 65535)
			|| (SELECT b FROM b2 WHERE k = (ms >> 16) & 65535)
			|| (SELECT b FROM b2 WHERE k = ms & 65535)
			|| X'00000000FFFF' || (SELECT b FROM b2 WHERE k = h & 65535)
			|| (SELECT b FROM b2 WHERE k = i & 65535) AS BLOB) END,
	metadata_id
FROM (
	SELECT g.*, min(ts) OVER (PARTITION BY metadata_id, grp) AS changed_at
	FROM (
		SELECT c.*, sum(chg) OVER (PARTITION BY metadata_id ORDER BY i) AS grp
		FROM (
			SELECT r.*, CAST(ts * 1000 AS INTEGER) AS ms,
				lag(i) OVER w AS prev,
				CASE WHEN lag(state) OVER w IS state THEN 0 ELSE 1 END AS chg
			FROM r WINDOW w AS (PARTITION BY metadata_id ORDER BY i)
		) c
	) g
)
ORDER BY i;

-- ------------------------------------------------------------ statistics
INSERT INTO statistics_meta(id, statistic_id, source, unit_of_measurement, has_mean,
	has_sum, name)
	SELECT row_number() OVER (ORDER BY metadata_id), entity_id, 'recorder',
		CASE kind WHEN 'power' THEN 'W' ELSE '°C' END, 1, 0, NULL
	FROM ent WHERE kind IN ('power', 'temperature');
INSERT INTO statistics_meta(id, statistic_id, source, unit_of_measurement, has_mean,
	has_sum, name) VALUES
	(25, 'tibber:energy_consumption_home', 'tibber', 'kWh', 0, 1, 'Home energy consumption'),
	(26, 'tibber:energy_cost_home', 'tibber', 'EUR', 0, 1, 'Home energy cost');

WITH RECURSIVE hr(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM hr WHERE k < $span / 3600 - 1),
m AS (SELECT sm.id, e.kind, e.outdoor, e.metadata_id
	FROM statistics_meta sm JOIN ent e ON e.entity_id = sm.statistic_id),
v AS (SELECT m.id, hr.k, $base + hr.k * 3600 AS start_ts,
	CASE m.kind
	WHEN 'power' THEN (15 + (m.metadata_id * 37) % 240)
		* (1.0 + 0.7 * sin(2 * pi() * (((hr.k * 3600 + 1800) % 86400) - 21600) / 86400)) + 25.0
	WHEN 'temperature' THEN CASE m.outdoor
		WHEN 1 THEN 2.0 + 7.0 * sin(2 * pi() * (((hr.k * 3600 + 1800) % 86400) - 28800) / 86400)
			- 4.0 * cos(2 * pi() * (hr.k * 3600) / $span)
		ELSE 19.5 + (m.metadata_id % 5) * 0.5
			+ 1.5 * sin(2 * pi() * (((hr.k * 3600 + 1800) % 86400) - 25200) / 86400) END
	END AS mean,
	((hr.k * 2654435761 + m.id * 40503) % 1000) / 1000.0 AS jig
	FROM m, hr)
INSERT INTO statistics(created, created_ts, metadata_id, start, start_ts, mean, min, max,
	last_reset, last_reset_ts, state, sum)
SELECT NULL, round(start_ts + 3600 + 10 + jig / 7, 6), id, NULL, start_ts,
	round(mean, 6),
	round(mean - (CASE WHEN mean > 50 THEN mean * 0.3 ELSE 0.8 END) * (0.5 + jig), 6),
	round(mean + (CASE WHEN mean > 50 THEN mean * 0.4 ELSE 0.9 END) * (0.5 + jig), 6),
	NULL, NULL, NULL, NULL
FROM v ORDER BY k, id;

-- external meters: a total_increasing reading and its running sum
WITH RECURSIVE hr(k, reading, total) AS (
	SELECT 0, 18234.125, 0.0
	UNION ALL
	SELECT k + 1,
		round(reading + 0.2 + ((k * 2654435761) % 1500) / 1000.0, 3),
		round(total + 0.2 + ((k * 2654435761) % 1500) / 1000.0, 3)
	FROM hr WHERE k < $span / 3600 - 1)
INSERT INTO statistics(created, created_ts, metadata_id, start, start_ts, mean, min, max,
	last_reset, last_reset_ts, state, sum)
SELECT NULL, round($base + k * 3600 + 3600 + 12.5 + (k % 7) / 10.0, 6), m.id, NULL,
	$base + k * 3600, NULL, NULL, NULL, NULL, NULL,
	CASE m.id WHEN 25 THEN reading ELSE round(reading * 0.2931, 4) END,
	CASE m.id WHEN 25 THEN total ELSE round(total * 0.2931, 4) END
FROM hr, (SELECT 25 AS id UNION ALL SELECT 26) m ORDER BY k, m.id;

-- ------------------------------------------------------------ runs, schema
INSERT INTO recorder_runs(run_id, start, "end", closed_incorrect, created) VALUES
	(1, '2024-01-01 00:00:00.000000', '2024-01-11 03:12:45.118204', 0,
		'2024-01-01 00:00:00.000000'),
	(2, '2024-01-11 03:14:02.540117', '2024-01-21 17:40:09.000412', 1,
		'2024-01-11 03:14:02.540117'),
	(3, '2024-01-21 17:41:30.777001', NULL, 0, '2024-01-21 17:41:30.777001');
INSERT INTO schema_changes(change_id, schema_version, changed) VALUES
	(1, 41, '2023-06-07 19:02:11.341920'),
	(2, 42, '2023-12-06 20:13:08.905312'),
	(3, 43, '2024-01-11 03:14:05.011874');

-- ------------------------------------------------------------ HA indexes
CREATE UNIQUE INDEX ix_states_meta_entity_id ON states_meta (entity_id);
CREATE INDEX ix_state_attributes_hash ON state_attributes (hash);
CREATE INDEX ix_states_context_id_bin ON states (context_id_bin);
CREATE INDEX ix_states_last_updated_ts ON states (last_updated_ts);
CREATE INDEX ix_states_metadata_id_last_updated_ts ON states (metadata_id, last_updated_ts);
CREATE INDEX ix_states_attributes_id ON states (attributes_id);
CREATE INDEX ix_states_old_state_id ON states (old_state_id);
CREATE UNIQUE INDEX ix_statistics_meta_statistic_id ON statistics_meta (statistic_id);
CREATE UNIQUE INDEX ix_statistics_statistic_id_start_ts ON statistics (metadata_id, start_ts);
CREATE INDEX ix_statistics_start_ts ON statistics (start_ts);
CREATE INDEX ix_recorder_runs_start_end ON recorder_runs (start, "end");

COMMIT;
PRAGMA journal_mode = WAL;
SQL

# foreign_key_check prints nothing when every reference resolves
fk=$(sqlite3 "$tmp" 'PRAGMA foreign_key_check' | head -n 5)
if [[ -n "$fk" ]]; then
	echo "make-ha-recorder: bug: dangling references:" >&2
	echo "$fk" >&2
	exit 1
fi
rm -f -- "$out" "$out-wal" "$out-shm" "$out-journal"
mv -f -- "$tmp" "$out"
trap - EXIT
