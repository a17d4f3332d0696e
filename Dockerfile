# The image Dokku builds and runs: the Procfile's `release:` line applies the
# migrations in a throwaway container of it, the `web:` line serves the setup
# endpoint. No ENTRYPOINT: Dokku would pass the Procfile line to it as arguments
# instead of running it through /bin/bash -c.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin praxia-deploy

FROM debian:bookworm-slim
# The major version of the app's Postgres service (dokku-postgres' image; 17 by
# default today): the release phase's backup runs this pg_dump against it, and
# pg_dump must be the server's version or newer. Build with
# `dokku docker-options:add <app> build '--build-arg POSTGRES_MAJOR=16'` to change it.
ARG POSTGRES_MAJOR=17
# bash: Dokku runs the release line as `/bin/bash -c "set -e; ...; <cmd> || exit 1;"`.
# ca-certificates: TLS to the database when its URL asks for verification.
# postgresql-client-$POSTGRES_MAJOR (pg_dump, pg_restore) from PostgreSQL's own
# Debian repository, which has every supported major version.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bash ca-certificates curl gnupg \
    && curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc \
       | gpg --dearmor -o /usr/share/keyrings/postgresql.gpg \
    && echo "deb [signed-by=/usr/share/keyrings/postgresql.gpg] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
       > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-client-${POSTGRES_MAJOR}" \
    && apt-get purge -y curl gnupg && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/praxia-deploy /usr/local/bin/praxia-deploy
WORKDIR /app
COPY migrations ./migrations
COPY environments ./environments
# The expected schema `drift --record` wrote: the release checks drift against it
# (it never replays migrations on the live database's server).
COPY drift ./drift
COPY Procfile app.json ./
# A forgotten `dokku config:set <app> PRAXIA_ENV=staging` then errs on the safe
# side: production never seeds fixtures. `praxia-deploy doctor` checks the setting.
ENV PRAXIA_ENV=production
EXPOSE 5000
CMD ["praxia-deploy", "serve"]
