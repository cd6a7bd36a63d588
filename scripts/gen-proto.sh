#!/usr/bin/env bash
# Generates TypeScript for proto/ with ts-proto (grpc-js services) into src/generated/.
# Skips the work when the output is newer than every .proto file.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/generated
stamp="$out/.stamp"
if [ -f "$stamp" ] && [ -z "$(find proto -name '*.proto' -newer "$stamp")" ]; then exit 0; fi
if ! command -v protoc >/dev/null 2>&1; then
  echo "gen-proto: protoc is missing (scripts/setup.sh installs Debian's protobuf-compiler)" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"
protoc \
  --plugin=protoc-gen-ts_proto=node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,forceLong=number,useOptionals=messages,env=node \
  -I proto $(find proto -name '*.proto' | sort)
touch "$stamp"
echo "gen-proto: generated $(find "$out" -name '*.ts' | wc -l) files" >&2
