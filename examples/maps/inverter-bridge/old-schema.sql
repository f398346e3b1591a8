-- The old bridge's SQLite database (version 1): one row per port reading,
-- and its settings as key/value pairs.
CREATE TABLE readings (
	id INTEGER PRIMARY KEY,
	serial TEXT NOT NULL,       -- inverter serial number
	port INTEGER NOT NULL,      -- 0 = the inverter's total, 1..4 = a DC port
	power REAL,                 -- W
	voltage REAL,               -- V
	energy REAL,                -- Wh since the last reading
	ts INTEGER NOT NULL         -- epoch seconds
);
CREATE TABLE config (
	key TEXT PRIMARY KEY,
	value TEXT
);
