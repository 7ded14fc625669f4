#!/bin/sh
# Container entry: `web` initialises the node on first start, upgrades the schema, then serves with gunicorn;
# `worker` waits for the web container to be ready (compose: depends_on service_healthy) and runs the jobs;
# `directory` serves the network directory. Anything else is run as given.
set -eu
case "${1:-web}" in
  web)
    if [ ! -f "$SIFNET_DATA_DIR/signing_key" ]; then
      sifnet node init --node-id "$SIFNET_NODE_ID" --base-url "$SIFNET_BASE_URL"
    fi
    sifnet node upgrade
    # Shared with the worker container (same volume); counters of earlier processes stay in the sums.
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    # gthread workers keep peers' connections open (--keep-alive 75 outlasts a proxy's 60 s, as in the systemd
    # unit), and each open page's event stream holds a thread (SIFNET_LIVE_MAX_STREAMS, 24, stays below the threads).
    exec gunicorn --workers "${WEB_WORKERS:-2}" --worker-class gthread --threads "${WEB_THREADS:-32}" --keep-alive 75 \
      --bind 0.0.0.0:8000 \
      --graceful-timeout 30 node.wsgi:app
    ;;
  worker)
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    exec sifnet node worker
    ;;
  directory)
    if [ ! -f "$SIFNET_DIRECTORY_DATA_DIR/settings.toml" ]; then
      sifnet directory init
    fi
    exec sifnet directory run
    ;;
  *)
    exec "$@"
    ;;
esac
