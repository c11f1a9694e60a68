"""A webhook receiver for owui-bridge that checks both signatures.

Python 3.8+, standard library only. Run:  WEBHOOK_SECRET=... python3 receiver.py
then set WEBHOOK_URL=http://<this machine>:8000/ in the bridge's .env.
"""
import base64
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["WEBHOOK_SECRET"]  # the same value as the bridge's WEBHOOK_SECRET
TOLERANCE = 300  # seconds between webhook-timestamp and now


def signing_key(secret: str) -> bytes:
    # A Standard Webhooks secret "whsec_<base64>" is the base64-decoded bytes; any other is its UTF-8 bytes.
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def verify_webhook(payload: bytes, signature: str, secret: str) -> bool:
    """X-Webhook-Signature: lowercase hex HMAC-SHA256 of the raw body."""
    expected = hmac.new(signing_key(secret), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def verify_standard(payload: bytes, msg_id: str, timestamp: str, signatures: str, secret: str) -> bool:
    """webhook-signature: "v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>'>" (Standard Webhooks)."""
    try:
        if abs(time.time() - int(timestamp)) > TOLERANCE:
            return False  # too old or from the future: a replay
    except ValueError:
        return False
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + payload
    expected = "v1," + base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s) for s in signatures.split(" "))


seen = set()  # event ids already handled: a retry or a re-read sends the same id again


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))  # the raw bytes, not re-encoded JSON
        h = self.headers
        ok = verify_webhook(body, h.get("X-Webhook-Signature", ""), SECRET) and verify_standard(
            body, h.get("webhook-id", ""), h.get("webhook-timestamp", ""), h.get("webhook-signature", ""), SECRET
        )
        if not ok:
            print("REJECTED bad signature", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        event = json.loads(body)
        if event["id"] not in seen:
            seen.add(event["id"])
            print("ok", event["event"], event["id"], json.dumps(event["data"]), flush=True)
        self.send_response(204)  # any 2xx tells the bridge it arrived
        self.end_headers()

    def log_message(self, *args):
        pass  # no access log


if __name__ == "__main__":
    HTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
