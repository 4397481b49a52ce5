# LOCAL STAND-INS for the postgres and redis images of docker/compose.yaml, for machines that cannot pull images
# (docker/stack_test.py builds them with --target postgres / --target redis). They are Debian bookworm's own
# packages, so the versions differ from the compose file's pins: PostgreSQL 15 instead of 16.10, Redis 7.0 instead
# of 7.2.7. What the compose file relies on is kept: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, SQL files in
# /docker-entrypoint-initdb.d run once when the data directory is new, data in /var/lib/postgresql/data, pg_isready
# and redis-cli on PATH, `postgres` and `redis-server` as the default commands.
ARG BOOKWORM_IMAGE

FROM ${BOOKWORM_IMAGE} AS debian-services
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8
# No cluster from the package: the entrypoint creates its own in PGDATA, like the official image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-common \
    && sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y --no-install-recommends postgresql-15 redis-server \
    && rm -rf /var/lib/apt/lists/*

FROM debian-services AS postgres
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh \
    && mkdir -p /docker-entrypoint-initdb.d "${PGDATA}" /var/run/postgresql \
    && chown postgres:postgres "${PGDATA}" /var/run/postgresql \
    && chmod 0700 "${PGDATA}"
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]

FROM debian-services AS redis
RUN mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server"]
