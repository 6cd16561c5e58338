#!/bin/sh
# One image, three roles: the first argument picks the process.
#   webserver        Dagster UI on :3000 (DAGSTER_WEBSERVER_PORT)
#   daemon           schedules, sensors, run queue, run monitoring
#   desk             the editorial desk on :8000 (BITBYBIT_DESK_PORT); reads the same Dagster instance
#   healthcheck      used by the image's HEALTHCHECK: checks whichever role this container runs
#   render-instance  only write $DAGSTER_HOME/dagster.yaml (check a deployment's variables)
#   anything else    executed as given: the ECS run launcher starts run tasks with
#                    `dagster api execute_run ...`, and `bash`, `dbt ...`, `python -m ...` work too
#
# webserver/daemon/desk need an instance config in $DAGSTER_HOME: if none is mounted there (the compose
# stack mounts deploy/compose/dagster.yaml), the production dagster.yaml is rendered into it first
# (deploy/aws/render.py fills the ECS network placeholders; a missing variable stops the start).
set -eu

APP_DIR="${BITBYBIT_APP_DIR:-/opt/bitbybit}"
ROLE_FILE="${TMPDIR:-/tmp}/bitbybit-role"
PORT="${DAGSTER_WEBSERVER_PORT:-3000}"

ensure_instance() {
    mkdir -p "$DAGSTER_HOME"
    if [ ! -f "$DAGSTER_HOME/dagster.yaml" ]; then
        python "$APP_DIR/deploy/aws/render.py" instance \
            "${BITBYBIT_INSTANCE_TEMPLATE:-$APP_DIR/dagster.yaml}" "$DAGSTER_HOME/dagster.yaml"
    fi
}

case "${1:-webserver}" in
    webserver)
        [ "$#" -gt 0 ] && shift
        ensure_instance
        echo webserver > "$ROLE_FILE"
        exec dagster-webserver -h 0.0.0.0 -p "$PORT" -w "$APP_DIR/workspace.yaml" "$@"
        ;;
    daemon)
        shift
        ensure_instance
        echo daemon > "$ROLE_FILE"
        exec dagster-daemon run -w "$APP_DIR/workspace.yaml" "$@"
        ;;
    desk)
        shift
        ensure_instance
        echo desk > "$ROLE_FILE"
        exec python -m desk "$@"
        ;;
    render-instance)
        ensure_instance
        echo "$DAGSTER_HOME/dagster.yaml"
        ;;
    healthcheck)
        case "$(cat "$ROLE_FILE" 2>/dev/null || echo run)" in
            webserver)
                exec python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$PORT/server_info', timeout=5).status == 200 else 1)"
                ;;
            daemon)
                exec dagster-daemon liveness-check
                ;;
            desk)
                exec python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:${BITBYBIT_DESK_PORT:-8000}/healthz', timeout=5).status == 200 else 1)"
                ;;
            *)
                exit 0  # a run task is healthy while its process runs; Dagster monitors the run
                ;;
        esac
        ;;
    *)
        exec "$@"
        ;;
esac
