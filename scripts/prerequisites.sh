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

  # The real clients the interop tests run, pinned by their lockfiles: drizzle-orm
  # 0.45 + drizzle-kit 0.31, pg and better-auth in tests/interop; drizzle-orm +
  # drizzle-kit 1.0 in tests/interop/drizzle-1.
  command -v node >/dev/null || apt_install nodejs npm
  # The studio's browser tests: Debian's chromium, driven by playwright-core
  # (tests/browser's lockfile).
  [ -n "${CHROMIUM:-}" ] || command -v chromium >/dev/null || apt_install chromium
  fetch_corpus
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
  local name version integrity rest target tarball actual
  while IFS=$'\t' read -r name version integrity rest; do
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
    mkdir -p "$target.partial" && tar -xzf "$scratch/$tarball" -C "$target.partial" && mv "$target.partial" "$target"
    rm -rf "$scratch"
  done < tests/corpus/sources.tsv
}
