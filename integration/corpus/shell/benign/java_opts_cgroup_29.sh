#!/bin/bash
set -e
# size the heap from the container's memory limit (cgroup v2, else v1)
if [ -f /sys/fs/cgroup/memory.max ]; then
  limit=$(cat /sys/fs/cgroup/memory.max)
else
  limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
fi
if [ "$limit" != "max" ] && [ "$limit" -lt 68719476736 ]; then
  heap_mb=$(( limit / 1024 / 1024 * ${HEAP_PERCENT:-75} / 100 ))
  JAVA_OPTS="$JAVA_OPTS -Xmx${heap_mb}m -Xms${heap_mb}m"
fi
JAVA_OPTS="$JAVA_OPTS -XX:+ExitOnOutOfMemoryError -Djava.security.egd=file:/dev/./urandom"
echo "starting with JAVA_OPTS=$JAVA_OPTS"
exec java $JAVA_OPTS -jar /app/app.jar "$@"
