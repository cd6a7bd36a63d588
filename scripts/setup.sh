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
