// A webhook receiver for owui-bridge that checks both signatures.
// Node 16+, no packages. Run:  WEBHOOK_SECRET=... node receiver.js
// then set WEBHOOK_URL=http://<this machine>:8000/ in the bridge's .env.
// (Express: use express.raw({ type: "application/json" }) so req.body is the raw Buffer.)
const http = require("node:http");
const crypto = require("node:crypto");

const SECRET = process.env.WEBHOOK_SECRET; // the same value as the bridge's WEBHOOK_SECRET
const TOLERANCE = 300; // seconds between webhook-timestamp and now

// A Standard Webhooks secret "whsec_<base64>" is the base64-decoded bytes; any other is its UTF-8 bytes.
function signingKey(secret) {
  return secret.startsWith("whsec_")
    ? Buffer.from(secret.slice("whsec_".length), "base64")
    : Buffer.from(secret, "utf8");
}

function safeEqual(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

// X-Webhook-Signature: lowercase hex HMAC-SHA256 of the raw body.
function verifyWebhook(payload, signature, secret) {
  const expected = crypto.createHmac("sha256", signingKey(secret)).update(payload).digest("hex");
  return safeEqual(expected, signature || "");
}

// webhook-signature: "v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>'>" (Standard Webhooks).
function verifyStandard(payload, id, timestamp, signatures, secret) {
  const ts = Number(timestamp);
  if (!Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > TOLERANCE) return false; // a replay
  const mac = crypto.createHmac("sha256", signingKey(secret));
  mac.update(`${id}.${timestamp}.`);
  mac.update(payload);
  const expected = "v1," + mac.digest("base64");
  return (signatures || "").split(" ").some((s) => safeEqual(expected, s));
}

const seen = new Set(); // event ids already handled: a retry or a re-read sends the same id again

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks); // the raw bytes, not re-encoded JSON
      const h = req.headers; // Node lower-cases header names
      const ok =
        verifyWebhook(body, h["x-webhook-signature"], SECRET) &&
        verifyStandard(body, h["webhook-id"] || "", h["webhook-timestamp"], h["webhook-signature"], SECRET);
      if (!ok) {
        console.log("REJECTED bad signature");
        res.writeHead(401).end();
        return;
      }
      const event = JSON.parse(body);
      if (!seen.has(event.id)) {
        seen.add(event.id);
        console.log("ok", event.event, event.id, JSON.stringify(event.data));
      }
      res.writeHead(204).end(); // any 2xx tells the bridge it arrived
    });
  })
  .listen(Number(process.env.PORT || 8000), "0.0.0.0");
