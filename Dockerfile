# Two images from one file:
#   docker build --target tool -t praxia-deploy:0.1.0 .
#     the tool alone (the binary, bash, pg_dump): what the backend's own image
#     copies the binary from, and what its setup companion app builds on (README:
#     "Deploying with the backend");
#   docker build .   (what Dokku builds when this repository is pushed to an app
#     of its own): the tool with this repository's migrations and environments.
# No ENTRYPOINT in either: Dokku would pass the Procfile line to it as arguments
# instead of running it through /bin/bash -c.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin praxia-deploy

FROM debian:bookworm-slim AS tool
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

FROM tool
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
