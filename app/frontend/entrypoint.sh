#!/bin/sh
# Chat frontend entrypoint: render nginx.conf.template with the environment into
# /tmp/nginx.conf and exec nginx in the foreground (PID 1 of the container).
#   BACKEND_URL   required, http(s)://host[:port] with no path (e.g. http://chat-backend.paif-chat.svc:8000)
#   LISTEN_PORT   default 8080
#   STATIC_ROOT   default: the static/ folder beside this script
#   NGINX_CONF    default /tmp/nginx.conf (rendered file)
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
LISTEN_PORT=${LISTEN_PORT:-8080}
STATIC_ROOT=${STATIC_ROOT:-$here/static}
NGINX_CONF=${NGINX_CONF:-/tmp/nginx.conf}
BACKEND_URL=${BACKEND_URL:-}

fail() {
    echo "chat-frontend: $*" >&2
    exit 2
}

[ -n "$BACKEND_URL" ] || fail "BACKEND_URL is not set (e.g. http://chat-backend.paif-chat.svc:8000)"
# Tolerate one trailing slash; any other path would change the URI nginx passes upstream.
BACKEND_URL=${BACKEND_URL%/}
printf '%s\n' "$BACKEND_URL" | grep -Eq '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$' \
    || fail "BACKEND_URL must be http(s)://host[:port] without a path (got '$BACKEND_URL')"
printf '%s\n' "$LISTEN_PORT" | grep -Eq '^[0-9]{1,5}$' || fail "LISTEN_PORT must be a port number (got '$LISTEN_PORT')"
[ -f "$STATIC_ROOT/index.html" ] || fail "STATIC_ROOT $STATIC_ROOT has no index.html"
case "$STATIC_ROOT" in *'|'* | *';'* | *' '*) fail "STATIC_ROOT must not contain '|', ';' or spaces" ;; esac

# Access log to the container's stdout; where this uid may not open it (stdout not handed
# to the container user), run without one rather than not at all.
if (: >>/dev/stdout) 2>/dev/null; then
    ACCESS_LOG='access_log /dev/stdout;'
else
    ACCESS_LOG='access_log off;'
    echo "chat-frontend: /dev/stdout is not writable by uid $(id -u); access log off" >&2
fi

mkdir -p "$(dirname -- "$NGINX_CONF")"
# Only these placeholders are replaced: nginx's own $variables stay as they are.
sed -e "s|\${BACKEND_URL}|$BACKEND_URL|g" \
    -e "s|\${ACCESS_LOG}|$ACCESS_LOG|g" \
    -e "s|\${LISTEN_PORT}|$LISTEN_PORT|g" \
    -e "s|\${STATIC_ROOT}|$STATIC_ROOT|g" \
    "$here/nginx.conf.template" >"$NGINX_CONF"

exec nginx -e stderr -c "$NGINX_CONF" -g 'daemon off;'
