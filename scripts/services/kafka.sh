# shellcheck shell=bash
# Sourced by scripts/services.sh, which sets the ports, folders and helpers used here.
#
# Kafka: one KRaft node that is both broker and controller, jars from Maven Central (scripts/kafka/pom.xml).

readonly KAFKA_PID="$KAFKA_DIR/kafka.pid"
readonly KAFKA_LOG="$KAFKA_DIR/kafka.log"
readonly KAFKA_CONF="$KAFKA_DIR/server.properties"
readonly KAFKA_LIBS="$KAFKA_DIR/libs"

kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM"; }

kafka_pid() {
  local pid
  pid=$(read_pidfile "$KAFKA_PID")
  if pid_matches "$pid" kafka.Kafka "$KAFKA_CONF"; then printf '%s' "$pid"; fi
}

kafka_ensure_runtime() {
  local stamp log="$KAFKA_DIR/mvn.log"
  if ! command -v java >/dev/null; then apt_install kafka default-jre-headless; fi
  stamp="kafka $(kafka_version) pom $(sha256sum <"$KAFKA_POM" | cut -c1-16)"
  if [[ -f $KAFKA_LIBS/.stamp && $(<"$KAFKA_LIBS/.stamp") == "$stamp" ]]; then return; fi
  if ! command -v mvn >/dev/null; then apt_install kafka maven; fi
  say "kafka: resolving Kafka $(kafka_version) jars with Maven (cached in ~/.m2; log: $log)"
  rm -rf -- "$KAFKA_LIBS.tmp"
  mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$KAFKA_LIBS.tmp" </dev/null >"$log" 2>&1 9>&- ||
    fail kafka "mvn dependency:copy-dependencies failed" "$log"
  printf '%s\n' "$stamp" >"$KAFKA_LIBS.tmp/.stamp"
  rm -rf -- "$KAFKA_LIBS"
  mv -- "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

# Rewritten on every start so that a moved checkout still points at its own .parley/.
kafka_write_conf() {
  cat >"$KAFKA_CONF" <<EOF
# Written by scripts/services.sh on every start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$KAFKA_DIR/data
num.partitions=4
auto.create.topics.enable=false
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
}

# A cluster id is 16 random bytes in URL-safe base64 without padding; Kafka avoids a leading '-'.
kafka_cluster_id() {
  local file="$KAFKA_DIR/cluster.id" id
  if [[ ! -s $file ]]; then
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    printf '%s\n' "${id/#-/A}" >"$file"
  fi
  head -n 1 -- "$file"
}

kafka_format() {
  local log="$KAFKA_DIR/format.log"
  [[ -f $KAFKA_DIR/data/meta.properties ]] && return
  say "kafka: formatting storage in $KAFKA_DIR/data"
  java -Xmx256m -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool \
    format --ignore-formatted -t "$(kafka_cluster_id)" -c "$KAFKA_CONF" </dev/null >"$log" 2>&1 9>&- ||
    fail kafka "formatting the storage failed" "$log"
}

# Big-endian integers out of the byte array KAFKA_REPLY (decimal bytes).
int16_at() {
  local v=$((KAFKA_REPLY[$1] << 8 | KAFKA_REPLY[$1 + 1]))
  ((v < 32768)) || v=$((v - 65536))
  printf '%d' "$v"
}
int32_at() {
  local v=$((KAFKA_REPLY[$1] << 24 | KAFKA_REPLY[$1 + 1] << 16 | KAFKA_REPLY[$1 + 2] << 8 | KAFKA_REPLY[$1 + 3]))
  ((v < 2147483648)) || v=$((v - 4294967296))
  printf '%d' "$v"
}

# Sends a Metadata v4 request (no topics) and succeeds when the broker lists itself among the live
# brokers: the listener is up, request handling is on and the broker is registered and unfenced.
kafka_probe() {
  local fd size i count node port hostlen racklen found=false
  local -a KAFKA_REPLY
  exec {fd}<>"/dev/tcp/$HOST/$KAFKA_PORT" || return 1
  # size=27 | api_key=3 (Metadata) | api_version=4 | correlation_id=7 | client_id="parley-probe"
  # | topics=[] | allow_auto_topic_creation=false
  printf '\x00\x00\x00\x1b\x00\x03\x00\x04\x00\x00\x00\x07\x00\x0cparley-probe\x00\x00\x00\x00\x00' >&"$fd" ||
    { exec {fd}>&-; return 1; }
  # dd with bs=1 reads exactly what it is asked for, leaving nothing buffered.
  read -ra KAFKA_REPLY < <(timeout 3 dd bs=1 count=4 status=none <&"$fd" | od -An -v -tu1 | tr '\n' ' ') || true
  if ((${#KAFKA_REPLY[@]} != 4)); then exec {fd}>&-; return 1; fi
  size=$(int32_at 0)
  if ((size < 12 || size > 65536)); then exec {fd}>&-; return 1; fi
  read -ra KAFKA_REPLY < <(timeout 3 dd bs=1 count="$size" status=none <&"$fd" | od -An -v -tu1 | tr '\n' ' ') || true
  exec {fd}>&-
  ((${#KAFKA_REPLY[@]} == size)) || return 1
  # correlation_id | throttle_time_ms | brokers: [node_id, host, port, rack] | cluster_id | controller_id | topics
  (($(int32_at 0) == 7)) || return 1
  count=$(int32_at 8)
  i=12
  while ((count-- > 0)); do
    ((i + 10 <= size)) || return 1
    node=$(int32_at "$i")
    hostlen=$(int16_at $((i + 4)))
    i=$((i + 6 + hostlen))
    port=$(int32_at "$i")
    racklen=$(int16_at $((i + 4)))
    i=$((i + 6 + (racklen > 0 ? racklen : 0)))
    if ((node == 1 && port == KAFKA_PORT)); then found=true; fi
  done
  $found
}

kafka_launch() {
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$KAFKA_LOG4J")
  [[ -f $KAFKA_LOG ]] && mv -f -- "$KAFKA_LOG" "$KAFKA_LOG.1"
  rm -f -- "$KAFKA_PID"
  # setsid: the broker outlives the caller's process group (a test runner's, a terminal's). The inner
  # shell writes its own pid, which `exec` hands over to the JVM.
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  setsid bash -c 'printf "%s\n" "$$" >"$1"; shift; exec "$@"' kafka-launch "$KAFKA_PID" \
    java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF" </dev/null >"$KAFKA_LOG" 2>&1 9>&- &
}

kafka_wait() {
  local start=$1 deadline pid
  deadline=$(($(date +%s) + KAFKA_READY_TIMEOUT))
  until kafka_probe 2>/dev/null; do
    pid=$(read_pidfile "$KAFKA_PID")
    if [[ -n $pid ]] && ! alive "$pid"; then
      fail kafka "the broker exited during startup" "$KAFKA_LOG"
    fi
    if (($(date +%s) >= deadline)); then
      fail kafka "not answering metadata requests on $HOST:$KAFKA_PORT after $KAFKA_READY_TIMEOUT s" "$KAFKA_LOG"
    fi
    sleep 0.25
  done
  say "kafka: ready on $HOST:$KAFKA_PORT (pid $(kafka_pid), Kafka $(kafka_version)) in $(elapsed "$start")"
}

# Starts the broker without waiting, so that Redis and PostgreSQL start while the JVM boots.
KAFKA_STARTED_AT=""
KAFKA_LAUNCHED=false
kafka_start() {
  KAFKA_STARTED_AT=$(now_ms)
  mkdir -p "$KAFKA_DIR"
  [[ -z $(kafka_pid) ]] || return 0
  kafka_ensure_runtime
  kafka_write_conf
  kafka_format
  LAUNCHED+=(kafka)
  KAFKA_LAUNCHED=true
  kafka_launch
}

kafka_up() {
  local pid
  [[ -n $KAFKA_STARTED_AT ]] || kafka_start
  pid=$(kafka_pid)
  if ! $KAFKA_LAUNCHED && [[ -n $pid ]] && kafka_probe 2>/dev/null; then
    say "kafka: running (pid $pid)"
    return
  fi
  kafka_wait "$KAFKA_STARTED_AT"
}

# SIGTERM is a controlled shutdown; a lone KRaft node takes a few seconds.
kafka_down() { stop_pid kafka "$KAFKA_PID" 60 "$KAFKA_LOG" "$(kafka_pid)"; }
