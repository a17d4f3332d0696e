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
# bash: Dokku runs the release line as `/bin/bash -c "set -e; ...; <cmd> || exit 1;"`.
# ca-certificates: TLS to the database when its URL asks for verification.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bash ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/praxia-deploy /usr/local/bin/praxia-deploy
WORKDIR /app
COPY migrations ./migrations
COPY environments ./environments
COPY Procfile app.json ./
# A forgotten `dokku config:set <app> PRAXIA_ENV=staging` then errs on the safe
# side: production never seeds fixtures. `praxia-deploy doctor` checks the setting.
ENV PRAXIA_ENV=production
EXPOSE 5000
CMD ["praxia-deploy", "serve"]
