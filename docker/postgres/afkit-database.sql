-- afkit's own state (alerts, the Slack outbox, the launch journal, leases between watchers) lives in a database of
-- its own on the Airflow PostgreSQL server, apart from Airflow's metadata tables. docker/compose.yaml mounts this file
-- into /docker-entrypoint-initdb.d, so the postgres image runs it once, when its data volume is first initialised.
-- afkit creates its tables itself on first use.
CREATE DATABASE afkit OWNER airflow;
