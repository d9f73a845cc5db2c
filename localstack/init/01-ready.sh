#!/bin/sh
# LocalStack runs this when its services are ready. RadStream deploys from the host with
# `radstream deploy --target localstack` (the same code path as embedded and aws), so there is
# nothing to create here; the script only marks readiness in LocalStack's log.
echo "radstream: LocalStack ready; run 'radstream deploy --target localstack' on the host"
