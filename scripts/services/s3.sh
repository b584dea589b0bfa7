# shellcheck shell=bash
# Sourced by scripts/services.sh, which sets the ports, folders and helpers used here.
#
# S3: SeaweedFS's `weed mini` (master, volume server, filer and S3 gateway in one process), built from the Go
# module proxy by scripts/tools.sh on first use. One identity (S3_ACCESS_KEY, S3_SECRET_KEY) and one bucket
# (S3_BUCKET), created at start when missing; its data is kept under .parley/s3 across restarts. Every port is set
# (the defaults would collide with the gateway's 8080 range and with other checkouts); WebDAV, the admin UI and the
# Iceberg and Lance catalogs are off, and so is telemetry.

readonly S3_DIR="$PARLEY/s3"
readonly S3_PID="$S3_DIR/weed.pid"
readonly S3_LOG="$S3_DIR/weed.log"
readonly S3_CONFIG="$S3_DIR/identities.json"
readonly S3_BUCKET=parley
readonly S3_REGION=us-east-1
readonly S3_ACCESS_KEY=parley
readonly S3_SECRET_KEY=parley-secret
readonly S3_READY_TIMEOUT=60

s3_pid() {
  local pid
  pid=$(read_pidfile "$S3_PID")
  if pid_matches "$pid" weed mini "-s3.port=$S3_PORT"; then printf '%s' "$pid"; fi
}

# The weed binary, built when missing (about 3 minutes the first time on a machine, then cached).
s3_weed() {
  local weed
  weed=$("$SCRIPTS_DIR/tools.sh" env | sed -n "s/^export PARLEY_SEAWEEDFS=//p")
  if [[ ! -x $weed ]]; then
    "$SCRIPTS_DIR/tools.sh" seaweedfs >/dev/null 9>&- || fail s3 "building SeaweedFS failed (scripts/tools.sh seaweedfs)"
  fi
  printf '%s' "$weed"
}

# True once the bucket answers a signed HEAD: the S3 gateway is up, has the identity and the bucket.
s3_probe() {
  curl -fsS -o /dev/null --max-time 2 -I --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$(s3_endpoint)/$S3_BUCKET" 2>/dev/null
}

s3_up() {
  local start pid weed deadline
  start=$(now_ms)
  command -v curl >/dev/null || apt_install s3 curl
  pid=$(s3_pid)
  if [[ -n $pid ]] && s3_probe; then
    say "s3: running (pid $pid)"
    return
  fi
  if [[ -z $pid ]]; then
    weed=$(s3_weed)
    mkdir -p "$S3_DIR"
    printf '{"identities":[{"name":"parley","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","Write","List","Tagging"]}]}\n' \
      "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$S3_CONFIG"
    LAUNCHED+=(s3)
    rm -f -- "$S3_PID"
    # setsid: the server outlives the caller's process group, as Kafka does (scripts/services/kafka.sh).
    setsid bash -c 'printf "%s\n" "$$" >"$1"; shift; exec "$@"' s3-launch "$S3_PID" \
      "$weed" mini -dir="$S3_DIR/data" -ip="$HOST" -ip.bind="$HOST" \
      -s3.port="$S3_PORT" -s3.port.grpc=$((S3_PORT + 1)) -s3.config="$S3_CONFIG" -bucket="$S3_BUCKET" \
      -s3.port.iceberg=0 -s3.port.lance=0 \
      -master.port=$((S3_PORT + 2)) -master.port.grpc=$((S3_PORT + 3)) -master.telemetry=false \
      -master.volumeSizeLimitMB=64 \
      -volume.port=$((S3_PORT + 4)) -volume.port.grpc=$((S3_PORT + 5)) \
      -filer.port=$((S3_PORT + 6)) -filer.port.grpc=$((S3_PORT + 7)) \
      -admin.port=$((S3_PORT + 8)) -admin.port.grpc=$((S3_PORT + 9)) -admin.port.legacy=0 \
      -webdav=false -admin.ui=false </dev/null >"$S3_LOG" 2>&1 9>&- &
  fi
  deadline=$(($(date +%s) + S3_READY_TIMEOUT))
  until s3_probe; do
    [[ -n $(s3_pid) ]] || { sleep 0.5; [[ -n $(s3_pid) ]] || fail s3 "weed mini exited" "$S3_LOG"; }
    (($(date +%s) < deadline)) ||
      fail s3 "bucket $S3_BUCKET not answering on $(s3_endpoint) after $S3_READY_TIMEOUT s" "$S3_LOG"
    sleep 0.2
  done
  say "s3: ready on $(s3_endpoint) (pid $(s3_pid), SeaweedFS) in $(elapsed "$start")"
}

s3_down() { stop_pid s3 "$S3_PID" 30 "$S3_LOG" "$(s3_pid)"; }
