# Installs what the tests and benchmarks need when the machine lacks it: as root
# from Debian's packages and npm, otherwise it says what to install. Sourced by
# scripts/test and scripts/bench.

say() { printf '==> %s\n' "$*"; }

apt_updated=no
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "error: this needs $* and can only install it as root on Debian/Ubuntu" >&2
    echo "help: install $* yourself, then run the command again" >&2
    exit 1
  fi
  if [ "$apt_updated" = no ]; then
    say "apt-get update"
    apt-get update -qq
    apt_updated=yes
  fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_prerequisites() {
  # PostgreSQL server programs (initdb, pg_ctl, postgres) and psql: the harness runs a real server.
  if ! { [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ]; } && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    apt_install postgresql
  fi
  command -v psql >/dev/null || apt_install postgresql-client
  # As root the server runs as the `postgres` user, which the server package creates.
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    say "creating the postgres system user"
    useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
  fi

  # A real OpenSSH sshd (and the ssh client) for the Dokku-over-SSH tests.
  [ -x /usr/sbin/sshd ] || apt_install openssh-server
  command -v ssh >/dev/null || apt_install openssh-client
  command -v ssh-keygen >/dev/null || apt_install openssh-client

  # mmdebstrap: the runtime tests (tests/it/runtime.rs) build a minimal Debian
  # bookworm root with it (minbase, once, cached in the target dir) and run the
  # binary there with chroot, which needs root.
  command -v mmdebstrap >/dev/null || apt_install mmdebstrap

  # The real clients the interop tests run, pinned by their lockfiles: drizzle-orm
  # 0.45 + drizzle-kit 0.31, pg and better-auth in tests/interop; drizzle-orm +
  # drizzle-kit 1.0 in tests/interop/drizzle-1.
  command -v node >/dev/null || apt_install nodejs npm
  # The studio's browser tests: Debian's chromium, driven by playwright-core
  # (tests/browser's lockfile).
  [ -n "${CHROMIUM:-}" ] || command -v chromium >/dev/null || apt_install chromium
  fetch_corpus
  install_pgvector
  for package in tests/interop tests/interop/drizzle-1 tests/browser; do
    if [ ! -f "$package/node_modules/.package-lock.json" ] ||
       [ "$package/package-lock.json" -nt "$package/node_modules/.package-lock.json" ]; then
      say "npm ci in $package"
      npm ci --prefix "$package" --no-audit --no-fund --loglevel=error
    fi
  done
}

# Real projects' migration folders (tests/corpus/sources.tsv): `npm pack` of each
# pinned package, checked against its recorded integrity, unpacked once.
fetch_corpus() {
  local name version integrity inside rest target tarball actual
  while IFS=$'\t' read -r name version integrity inside rest; do
    case "$name" in ''|'#'*) continue ;; esac
    target="tests/corpus/.packages/${name//\//+}@$version"
    [ -d "$target" ] && continue
    say "npm pack $name@$version (real-project corpus)"
    local scratch; scratch="$(mktemp -d)"
    tarball="$(cd "$scratch" && npm pack --silent "$name@$version")"
    actual="$(node -e 'const c = require("crypto"), fs = require("fs"); process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$scratch/$tarball")"
    if [ "$actual" != "$integrity" ]; then
      rm -rf "$scratch"
      echo "error: $name@$version from the registry is not the recorded one ($actual)" >&2
      return 1
    fi
    # Only the migration folder: some packages are a whole application.
    rm -rf "$target.partial" && mkdir -p "$target.partial" &&
      tar -xzf "$scratch/$tarball" -C "$target.partial" "$inside" && mv "$target.partial" "$target"
    rm -rf "$scratch"
  done < tests/corpus/sources.tsv
}

# pgvector, for the corpus projects whose migrations `CREATE EXTENSION vector`.
# Debian 12 packages it for none of its PostgreSQL servers, so it is built from
# Debian 13's source package, pinned (apt checks it against the signed archive),
# with the server's development package, for every server major on the machine.
PGVECTOR_SOURCE="pgvector=0.8.0-1"
install_pgvector() {
  local bin major missing=()
  for bin in /usr/lib/postgresql/*/bin ${PG_BIN:+"$PG_BIN"}; do
    [ -x "$bin/postgres" ] || continue
    major="$("$bin/postgres" -V | awk '{ print $3 }' | cut -d. -f1)"
    [ -f "/usr/share/postgresql/$major/extension/vector.control" ] || missing+=("$major")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  local packages=()
  for major in "${missing[@]}"; do packages+=("postgresql-server-dev-$major"); done
  command -v dpkg-source >/dev/null || packages+=(dpkg-dev)
  command -v make >/dev/null || packages+=(make)
  command -v gcc >/dev/null || packages+=(gcc)
  apt_install "${packages[@]}"
  say "building $PGVECTOR_SOURCE from Debian 13's sources for PostgreSQL ${missing[*]}"
  local scratch; scratch="$(mktemp -d)"
  mkdir -p "$scratch/lists/partial" "$scratch/build"
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    > "$scratch/trixie.sources"
  local apt=(apt-get -qq -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$scratch"
    -o "Dir::State::Lists=$scratch/lists" -o APT::Sandbox::User=root)
  if ! "${apt[@]}" update >"$scratch/log" 2>&1 ||
     ! (cd "$scratch/build" && "${apt[@]}" source "$PGVECTOR_SOURCE") >>"$scratch/log" 2>&1; then
    cat "$scratch/log" >&2
    echo "error: could not fetch $PGVECTOR_SOURCE's source package from deb.debian.org (trixie)" >&2
    rm -rf "$scratch"
    return 1
  fi
  for major in "${missing[@]}"; do
    # OPTFLAGS="": no -march=native (Debian's own build does the same); no LLVM bitcode.
    if ! make -C "$scratch/build/pgvector-"*/ PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" \
         OPTFLAGS="" with_llvm=no clean all install >>"$scratch/log" 2>&1; then
      cat "$scratch/log" >&2
      echo "error: building pgvector for PostgreSQL $major failed (log above)" >&2
      rm -rf "$scratch"
      return 1
    fi
  done
  rm -rf "$scratch"
}
