-- The new telemetry service's PostgreSQL table, as the service creates it.
CREATE TABLE telemetry (
	id bigserial PRIMARY KEY,
	time timestamptz NOT NULL,
	entity_id text NOT NULL,
	domain text NOT NULL,
	state text,
	numeric_value double precision,
	unit text,
	attributes jsonb,
	source text NOT NULL
);
CREATE INDEX telemetry_entity_time ON telemetry (entity_id, time DESC);
