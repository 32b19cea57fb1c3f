#!/usr/bin/env bash
# Submit a shard build to the Flink cluster of docker-compose.yml (job server on :8099).
# Usage: deploy/flink/submit.sh --source commonvoice --input s3://bucket/cv/fr --lang fr --output s3://bucket/shards
set -euo pipefail
exec clara shards --runner portable \
  --job_endpoint=localhost:8099 --artifact_endpoint=localhost:8098 \
  --environment_type=EXTERNAL --environment_config=sdk-pool:50000 \
  "$@"
