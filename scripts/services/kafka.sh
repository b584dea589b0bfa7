# shellcheck shell=bash
# Sourced by scripts/services.sh, which sets the ports, folders and helpers used here.
#
# Kafka: one KRaft node that is both broker and controller, jars from Maven Central (scripts/kafka/pom.xml).

readonly KAFKA_PID="$KAFKA_DIR/kafka.pid"
readonly KAFKA_LOG="$KAFKA_DIR/kafka.log"
readonly KAFKA_CONF="$KAFKA_DIR/server.properties"
readonly KAFKA_LIBS="$KAFKA_DIR/libs"
# The one KRaft node's id: in its config, and what the readiness probe looks for among the live brokers.
readonly KAFKA_NODE_ID=1

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
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_NODE_ID@$HOST:$KAFKA_CONTROLLER_PORT
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

# Succeeds when the broker lists itself among the live brokers of a metadata answer: kafkajs, the project's Kafka
# client, asks (scripts/kafka/ready.mjs).
kafka_probe() { node "$SCRIPTS_DIR/kafka/ready.mjs" "$(kafka_brokers)" "$KAFKA_NODE_ID"; }

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
  [[ -f $ROOT/node_modules/kafkajs/package.json ]] || fail kafka "kafkajs is not installed (its readiness probe uses it): run npm ci first"
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
