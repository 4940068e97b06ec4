#!/usr/bin/env bash
# Starts a local PostgreSQL for the store's test suite and makes sure role and database `crucible`
# (password `crucible`, CREATEDB) exist. Idempotent: run it as often as you like.
#
#   bash .ci/postgres.sh            # prints the URL on stdout
#   source .ci/postgres.sh          # also exports CRUCIBLE_TEST_POSTGRES_URL into the calling shell
#
# Installs Debian's `postgresql` only when its binaries are missing. Fails loudly (non-zero) when
# PostgreSQL cannot be reached afterwards: the PostgreSQL test suite must never be skipped silently in CI.

crucible_postgres_setup() (
    set -euo pipefail
    cd /

    say() { echo "postgres.sh: $*" >&2; }
    die() {
        say "ERROR: $*"
        exit 1
    }
    as_postgres() {
        if [ "$(id -un)" = postgres ]; then
            "$@"
        elif [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$@"
        else
            sudo -n -u postgres -- "$@"
        fi
    }

    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        say "PostgreSQL is not installed: installing Debian's postgresql package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update >&2 && apt-get install -y postgresql >&2 || die "could not install postgresql"
    fi

    # The first existing cluster, or a new `main` cluster of the newest installed version.
    local version name port
    read -r version name port _ < <(pg_lsclusters -h 2>/dev/null | head -n 1) || true
    if [ -z "${version:-}" ]; then
        version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
        [ -n "$version" ] || die "no PostgreSQL server version found under /usr/lib/postgresql"
        say "creating cluster $version/main"
        pg_createcluster "$version" main >&2 || die "pg_createcluster $version main failed"
        read -r version name port _ < <(pg_lsclusters -h | head -n 1) || die "cluster $version/main was not created"
    fi

    if ! pg_lsclusters -h | awk -v v="$version" -v n="$name" '$1 == v && $2 == n { print $4 }' | grep -q online; then
        say "starting cluster $version/$name on port $port"
        pg_ctlcluster "$version" "$name" start >&2 || die "pg_ctlcluster $version $name start failed (see /var/log/postgresql/)"
    fi

    local waited=0
    until pg_isready -q -h 127.0.0.1 -p "$port"; do
        waited=$((waited + 1))
        [ "$waited" -le 60 ] || die "PostgreSQL $version/$name is not accepting connections on 127.0.0.1:$port after 60 s"
        sleep 1
    done

    psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@"; }
    if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'crucible'")" != 1 ]; then
        say "creating role crucible"
        psql_admin -c "CREATE ROLE crucible LOGIN CREATEDB PASSWORD 'crucible'" || die "could not create role crucible"
    else
        psql_admin -c "ALTER ROLE crucible LOGIN CREATEDB PASSWORD 'crucible'" || die "could not update role crucible"
    fi
    if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'crucible'")" != 1 ]; then
        say "creating database crucible"
        psql_admin -c "CREATE DATABASE crucible OWNER crucible" || die "could not create database crucible"
    fi

    local url="postgres://crucible:crucible@127.0.0.1:$port/crucible"
    PGPASSWORD=crucible psql -X -q -h 127.0.0.1 -p "$port" -U crucible -d crucible -tAc 'SELECT 1' >/dev/null ||
        die "cannot log in as crucible on 127.0.0.1:$port with password authentication"
    say "PostgreSQL $version/$name is ready on 127.0.0.1:$port"
    echo "$url"
)

if CRUCIBLE_POSTGRES_URL_FOUND=$(crucible_postgres_setup); then
    export CRUCIBLE_TEST_POSTGRES_URL="$CRUCIBLE_POSTGRES_URL_FOUND"
    unset CRUCIBLE_POSTGRES_URL_FOUND
    if [ "${BASH_SOURCE[0]}" = "$0" ]; then
        echo "$CRUCIBLE_TEST_POSTGRES_URL"
    fi
else
    unset CRUCIBLE_POSTGRES_URL_FOUND
    echo "postgres.sh: ERROR: PostgreSQL is required for the store tests and could not be set up" >&2
    if [ "${BASH_SOURCE[0]}" = "$0" ]; then exit 1; else return 1; fi
fi
