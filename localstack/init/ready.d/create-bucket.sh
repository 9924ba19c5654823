#!/bin/bash
# LocalStack "ready" hook (docker-compose.localstack.yml mounts this folder at
# /etc/localstack/init/ready.d): creates the bucket Augur writes to. The name
# must equal AUGUR_S3_BUCKET in that compose file (test/unit/compose.test.ts
# checks it). Safe to run again: an existing bucket is left as it is.
set -euo pipefail

if awslocal s3api head-bucket --bucket augur >/dev/null 2>&1; then
  echo "create-bucket: s3://augur already exists"
else
  awslocal s3 mb s3://augur
fi
