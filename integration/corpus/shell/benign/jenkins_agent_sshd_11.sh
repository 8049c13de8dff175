#!/bin/bash
set -ex
write_key() {
	local ID_GROUP
	ID_GROUP=$(stat -c '%U:%G' "${JENKINS_AGENT_HOME}")
	mkdir -p "${JENKINS_AGENT_HOME}/.ssh"
	echo "$1" > "${JENKINS_AGENT_HOME}/.ssh/authorized_keys"
	chown -Rf "${ID_GROUP}" "${JENKINS_AGENT_HOME}/.ssh"
	chmod 0700 -R "${JENKINS_AGENT_HOME}/.ssh"
}
if [[ ${JENKINS_AGENT_SSH_PUBKEY} == ssh-* ]]; then
	write_key "${JENKINS_AGENT_SSH_PUBKEY}"
fi
env | grep -E '^(JAVA_HOME|PATH)=' > "${JENKINS_AGENT_HOME}/.ssh/environment"
ssh-keygen -A
exec /usr/sbin/sshd -D -e "${@}"
