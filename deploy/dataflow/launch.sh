#!/usr/bin/env bash
# Launch a shard build on Google Cloud Dataflow with the clara worker image.
# Usage: PROJECT=my-proj REGION=europe-west4 BUCKET=gs://my-bucket IMAGE=europe-docker.pkg.dev/my-proj/clara/worker:latest \
#        deploy/dataflow/launch.sh --source commonvoice --input gs://my-bucket/cv/fr --lang fr
# Extra flags go to `clara shards` (and to Beam): e.g. --max_num_workers=200 --machine_type=n2-standard-8
# The launcher needs the worker's extras and Beam's GCP client (the workers get theirs from IMAGE,
# deploy/docker/Dockerfile): pip install ".[pipeline,visual,llm,offline]" "apache-beam[gcp]==2.77.0"
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET (gs://...)}" "${IMAGE:?set IMAGE (the worker image)}"
exec clara shards --runner dataflow \
  --project="$PROJECT" --region="$REGION" \
  --temp_location="$BUCKET/tmp" --staging_location="$BUCKET/staging" \
  --sdk_container_image="$IMAGE" --experiments=use_runner_v2 \
  --machine_type="${MACHINE_TYPE:-n2-standard-4}" --max_num_workers="${MAX_WORKERS:-50}" \
  --output="$BUCKET/shards" \
  "$@"
