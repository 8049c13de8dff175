"""A small web service with one deliberately vulnerable endpoint, for runwarden's container tests.

/healthz      -> "ok"
/lookup?name= -> resolves a host name by running `getent hosts NAME` through a shell: the classic
                 command-injection bug (NAME is not escaped), the way attacks reach a real service.
/work         -> does ordinary work: spawns a worker thread and a subprocess (benign traffic).
"""
import http.server
import json
import signal
import subprocess
import sys
import threading
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/healthz":
            return self.reply(200, "ok")
        if url.path == "/lookup":
            name = query.get("name", [""])[0]
            # VULNERABLE ON PURPOSE: shell=True with user input.
            out = subprocess.run("getent hosts " + name, shell=True, capture_output=True, text=True, timeout=20)
            return self.reply(200, out.stdout or "not found")
        if url.path == "/work":
            result = {}
            t = threading.Thread(target=lambda: result.update(sum=sum(range(100000))))
            t.start()
            t.join()
            result["date"] = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
            return self.reply(200, json.dumps(result))
        return self.reply(404, "no")


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    # Exit 0 on SIGTERM, as a well-behaved service does (Cloud Run sends SIGTERM before stopping).
    signal.signal(signal.SIGTERM, lambda *_: (server.server_close(), sys.exit(0)))
    server.serve_forever()


if __name__ == "__main__":
    main()
