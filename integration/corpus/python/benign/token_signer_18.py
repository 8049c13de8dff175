import base64
import hashlib
import hmac
import json
import os
import time

SECRET = os.environ["SIGNING_SECRET"].encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict, ttl: int = 3600) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    claims = dict(claims, exp=int(time.time()) + ttl)
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def verify(token: str) -> dict:
    signing_input, _, sig = token.rpartition(".")
    expected = b64url(hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig, expected):
        raise ValueError("bad signature")
    payload = signing_input.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if claims["exp"] < time.time():
        raise ValueError("expired")
    return claims
