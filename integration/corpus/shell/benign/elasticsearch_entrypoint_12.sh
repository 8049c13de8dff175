#!/bin/bash
set -e
# Files created by Elasticsearch should always be group writable too
umask 0002

if [[ "$1" == "eswrapper" || $(basename "$1") == "elasticsearch" ]]; then
  shift
  set -- /usr/share/elasticsearch/bin/elasticsearch "$@"
fi

max_map_count=$(sysctl -n vm.max_map_count 2>/dev/null || echo 0)
if [ "$max_map_count" -lt 262144 ]; then
  echo "WARNING: vm.max_map_count [$max_map_count] is too low, increase to at least [262144]" >&2
fi

if [[ -f bin/elasticsearch-users ]]; then
  if [[ -n "$ELASTIC_PASSWORD" ]]; then
    [[ -f /usr/share/elasticsearch/config/elasticsearch.keystore ]] || (elasticsearch-keystore create)
    if ! (elasticsearch-keystore has-passwd --silent) ; then
      if ! (elasticsearch-keystore list | grep -q '^bootstrap.password$'); then
        (echo "$ELASTIC_PASSWORD" | elasticsearch-keystore add -x 'bootstrap.password')
      fi
    fi
  fi
fi

if [[ "$(id -u)" == "0" ]]; then
  chown -R 1000:0 /usr/share/elasticsearch/{data,logs}
fi
exec /bin/tini -- "$@"
