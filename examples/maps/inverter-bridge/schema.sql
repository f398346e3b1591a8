-- The new bridge's PostgreSQL schema (version 2), as the application
-- creates it on its first start.
CREATE TABLE inverters (
	id serial PRIMARY KEY,
	serial text NOT NULL UNIQUE,
	first_seen timestamptz NOT NULL,
	model text
);
CREATE TABLE inverter_data (
	id bigserial PRIMARY KEY,
	inverter_id integer NOT NULL REFERENCES inverters (id),
	time timestamptz NOT NULL,
	power_w double precision,
	energy_kwh double precision
);
CREATE INDEX inverter_data_inverter_time ON inverter_data (inverter_id, time DESC);
CREATE TABLE port_data (
	id bigserial PRIMARY KEY,
	inverter_id integer NOT NULL REFERENCES inverters (id),
	port smallint NOT NULL CHECK (port BETWEEN 1 AND 8),
	time timestamptz NOT NULL,
	power_w double precision,
	voltage_v double precision
);
CREATE TABLE config (
	key text PRIMARY KEY,
	value text,
	updated_at timestamptz NOT NULL DEFAULT now()
);
