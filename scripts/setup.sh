#!/usr/bin/env bash
# Installs what the server needs (mode "server", the default) or what the whole test suite needs
# (mode "test"). Idempotent: anything already present is skipped, so it is cheap to run every time.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-server}
# shellcheck source=versions.env
. scripts/versions.env

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_updated=0
apt_install() { # name pinned-version
  local name=$1 version=$2
  if [ $apt_updated -eq 0 ]; then
    echo "setup: apt-get update" >&2
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  echo "setup: installing $name" >&2
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$name=$version" >/dev/null 2>&1; then
    echo "setup: warning: $name=$version is no longer served; installing the release's current $name" >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$name" >/dev/null
  fi
}

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  apt_install ffmpeg "$DEBIAN_FFMPEG_VERSION"
fi

if ! command -v protoc >/dev/null 2>&1; then
  apt_install protobuf-compiler "$DEBIAN_PROTOC_VERSION"
fi

if [ "$MODE" = "test" ]; then
  if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium "$DEBIAN_CHROMIUM_VERSION"
  fi
  # MinIO for the storage tests, built once from its official Go module and kept in the cache.
  MINIO_BIN_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/imageflowcanvas/bin"
  if [ ! -x "$MINIO_BIN_DIR/minio" ] || [ "$(cat "$MINIO_BIN_DIR/minio.version" 2>/dev/null)" != "$MINIO_MODULE_VERSION" ]; then
    if ! command -v go >/dev/null 2>&1; then
      echo "setup: Go is needed to build the MinIO test server (go install github.com/minio/minio)" >&2
      exit 1
    fi
    echo "setup: building MinIO $MINIO_MODULE_VERSION with go install (once; cached in $MINIO_BIN_DIR)" >&2
    mkdir -p "$MINIO_BIN_DIR"
    GOBIN="$MINIO_BIN_DIR" GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_MODULE_VERSION"
    echo "$MINIO_MODULE_VERSION" > "$MINIO_BIN_DIR/minio.version"
  fi
  # Redis for the state tests; the test run starts its own on 127.0.0.1 (test/support/redis-server.ts).
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server "$DEBIAN_REDIS_VERSION"
  fi
  # PostgreSQL for the metadata-database tests; the test run starts its own cluster on 127.0.0.1
  # (test/support/postgres-server.ts) from the server binaries, never Debian's service.
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt_install postgresql-15 "$DEBIAN_POSTGRESQL_VERSION"
  fi
  # kubeconform and offline schemas for the deploy/k8s manifest test (this machine reaches package
  # registries only, so kubeconform's default schema download cannot work). Built/laid out once.
  if [ ! -x "$MINIO_BIN_DIR/kubeconform" ] || [ "$(cat "$MINIO_BIN_DIR/kubeconform.version" 2>/dev/null)" != "$KUBECONFORM_MODULE_VERSION" ]; then
    echo "setup: building kubeconform $KUBECONFORM_MODULE_VERSION with go install (once; cached in $MINIO_BIN_DIR)" >&2
    GOBIN="$MINIO_BIN_DIR" GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_MODULE_VERSION"
    echo "$KUBECONFORM_MODULE_VERSION" > "$MINIO_BIN_DIR/kubeconform.version"
  fi
  K8S_SCHEMA_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/imageflowcanvas/k8s-schemas"
  K8S_SCHEMA_STAMP="$PIP_KUBERNETES_VALIDATE_VERSION $KUBERNETES_SCHEMA_VERSION $PROMETHEUS_OPERATOR_MODULE_VERSION"
  if [ "$(cat "$K8S_SCHEMA_DIR/version" 2>/dev/null)" != "$K8S_SCHEMA_STAMP" ]; then
    echo "setup: laying out Kubernetes $KUBERNETES_SCHEMA_VERSION and ServiceMonitor schemas in $K8S_SCHEMA_DIR" >&2
    k8s_tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$k8s_tmp" "kubernetes-validate==$PIP_KUBERNETES_VALIDATE_VERSION"
    prom_dir=$(cd "$k8s_tmp" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_MODULE_VERSION" \
      | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    rm -rf "$K8S_SCHEMA_DIR"
    python3 scripts/k8s-schemas.py "$k8s_tmp"/kubernetes_validate-*.whl "$KUBERNETES_SCHEMA_VERSION" "$prom_dir" "$K8S_SCHEMA_DIR"
    echo "$K8S_SCHEMA_STAMP" > "$K8S_SCHEMA_DIR/version"
    rm -rf "$k8s_tmp"
  fi
  # compose-check (scripts/compose-check): loads docker/docker-compose.yml with compose-go, the
  # Compose Specification's loader, for the same test; rebuilt when its sources change.
  compose_stamp=$(cat scripts/compose-check/go.mod scripts/compose-check/go.sum scripts/compose-check/main.go | sha256sum | cut -d' ' -f1)
  if [ ! -x "$MINIO_BIN_DIR/compose-check" ] || [ "$(cat "$MINIO_BIN_DIR/compose-check.version" 2>/dev/null)" != "$compose_stamp" ]; then
    echo "setup: building scripts/compose-check (once; cached in $MINIO_BIN_DIR)" >&2
    (cd scripts/compose-check && go build -o "$MINIO_BIN_DIR/compose-check" .)
    echo "$compose_stamp" > "$MINIO_BIN_DIR/compose-check.version"
  fi
  # GStreamer for the RTSP interop tests: gst-launch-1.0 with x264enc, avenc_aac and rtspclientsink
  # (pushes), and gst-rtsp-server driven from Debian's own python3 (a camera-like server to pull).
  gst_pkg() { # package pinned-version probe-command...
    local name=$1 version=$2
    shift 2
    if ! "$@" >/dev/null 2>&1; then apt_install "$name" "$version"; fi
  }
  gst_pkg gstreamer1.0-tools "$DEBIAN_GST_TOOLS_VERSION" command -v gst-launch-1.0
  gst_pkg gstreamer1.0-plugins-base "$DEBIAN_GST_PLUGINS_BASE_VERSION" gst-inspect-1.0 videotestsrc
  gst_pkg gstreamer1.0-plugins-good "$DEBIAN_GST_PLUGINS_GOOD_VERSION" gst-inspect-1.0 rtph264pay
  gst_pkg gstreamer1.0-plugins-ugly "$DEBIAN_GST_PLUGINS_UGLY_VERSION" gst-inspect-1.0 x264enc
  gst_pkg gstreamer1.0-libav "$DEBIAN_GST_LIBAV_VERSION" gst-inspect-1.0 avenc_aac
  gst_pkg gstreamer1.0-rtsp "$DEBIAN_GST_RTSP_VERSION" gst-inspect-1.0 rtspclientsink
  gst_pkg python3-gi "$DEBIAN_PYTHON3_GI_VERSION" /usr/bin/python3 -c "import gi"
  gst_pkg gir1.2-gstreamer-1.0 "$DEBIAN_GIR_GSTREAMER_VERSION" /usr/bin/python3 -c "import gi; gi.require_version('Gst', '1.0')"
  gst_pkg gir1.2-gst-rtsp-server-1.0 "$DEBIAN_GIR_GST_RTSP_SERVER_VERSION" /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')"

  # aiortc, an independent WebRTC stack the NACK tests publish with (its own venv, pinned, cached).
  bash scripts/setup-aiortc.sh

  # Apache Kafka (KRaft) for the event-bus tests: broker jars from Maven Central, pinned, cached.
  bash scripts/setup-kafka.sh
fi

# Node dependencies, exactly as locked; re-run only when the lock file changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
fi

# TypeScript from proto/ (ts-proto); skipped when up to date.
bash scripts/gen-proto.sh
