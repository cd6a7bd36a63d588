#!/usr/bin/env bash
# The Apache Kafka broker the tests run (KRaft, one node): its jars are resolved from Maven Central
# with the machine's mvn (scripts/kafka/pom.xml) into the cache, and run with the machine's Java.
# Idempotent: skipped when the cached jars are of KAFKA_VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
. scripts/versions.env

KAFKA_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/imageflowcanvas/kafka"
if [ "$(cat "$KAFKA_DIR/version" 2>/dev/null)" = "$KAFKA_VERSION" ] && compgen -G "$KAFKA_DIR/libs/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then
  exit 0
fi
for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "setup: $tool is needed for the Kafka test broker (Java 17+ and Maven)" >&2
    exit 1
  fi
done
echo "setup: resolving Apache Kafka $KAFKA_VERSION broker jars with mvn (once; cached in $KAFKA_DIR)" >&2
mkdir -p "$(dirname "$KAFKA_DIR")"
staging=$(mktemp -d "$KAFKA_DIR.XXXXXX")
trap 'rm -rf "$staging"' EXIT
mvn -q -B -Dstyle.color=never -f scripts/kafka/pom.xml dependency:copy-dependencies \
  -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$staging/libs"
echo "$KAFKA_VERSION" > "$staging/version"
# Swapped in whole, so an interrupted resolve never leaves a half-filled cache that looks done.
rm -rf "$KAFKA_DIR"
mv "$staging" "$KAFKA_DIR"
trap - EXIT
