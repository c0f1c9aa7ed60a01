#!/bin/sh
#  initdb.sh - one role and one database per evbus service
#
#  Run once by the postgres image, on an empty data directory, from
#  /docker-entrypoint-initdb.d (Kubernetes: components/postgres; compose.yaml
#  mounts this same file). For each service whose <SERVICE>_DB_PASSWORD is set
#  it creates the role evbus_<service> with that password and the database
#  evbus_<service> owned by it, closed to everyone else; these are the names
#  every DATABASE_URL of deploy/ uses. The password reaches psql through the
#  environment (\getenv), never through its arguments.
set -eu

s_password_of() {
    case $1 in
        order) printf '%s' "${ORDER_DB_PASSWORD:-}" ;;
        inventory) printf '%s' "${INVENTORY_DB_PASSWORD:-}" ;;
        billing) printf '%s' "${BILLING_DB_PASSWORD:-}" ;;
        shim) printf '%s' "${SHIM_DB_PASSWORD:-}" ;;
    esac
}

for service in order inventory billing shim; do
    password=$(s_password_of "$service")
    if [ -z "$password" ]; then
        echo "initdb.sh: no password for $service: database evbus_$service not created"
        continue
    fi
    echo "initdb.sh: creating role and database evbus_$service"
    EVBUS_DB_PASSWORD=$password psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
        --dbname postgres -v role="evbus_$service" <<'SQL'
\getenv password EVBUS_DB_PASSWORD
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
