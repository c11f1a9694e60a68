// A webhook receiver for owui-bridge that checks both signatures.
// Go 1.19+, standard library only. Run:  WEBHOOK_SECRET=... go run receiver.go
// then set WEBHOOK_URL=http://<this machine>:8000/ in the bridge's .env.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const tolerance = 300 // seconds between webhook-timestamp and now

// A Standard Webhooks secret "whsec_<base64>" is the base64-decoded bytes; any other is its UTF-8 bytes.
func signingKey(secret string) []byte {
	if strings.HasPrefix(secret, "whsec_") {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			log.Fatal("WEBHOOK_SECRET: whsec_ secret is not valid base64")
		}
		return key
	}
	return []byte(secret)
}

// X-Webhook-Signature: lowercase hex HMAC-SHA256 of the raw body.
func verifyWebhook(payload []byte, signature string, key []byte) bool {
	mac := hmac.New(sha256.New, key)
	mac.Write(payload)
	return hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(signature))
}

// webhook-signature: "v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>'>" (Standard Webhooks).
func verifyStandard(payload []byte, id, timestamp, signatures string, key []byte) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || time.Now().Unix()-ts > tolerance || ts-time.Now().Unix() > tolerance {
		return false // a replay
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(payload)
	expected := []byte("v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	for _, s := range strings.Split(signatures, " ") {
		if hmac.Equal(expected, []byte(s)) {
			return true
		}
	}
	return false
}

func main() {
	key := signingKey(os.Getenv("WEBHOOK_SECRET")) // the same value as the bridge's WEBHOOK_SECRET
	var mu sync.Mutex
	seen := map[string]bool{} // event ids already handled: a retry or a re-read sends the same id again

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20)) // the raw bytes, not re-encoded JSON
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if !verifyWebhook(body, r.Header.Get("X-Webhook-Signature"), key) ||
			!verifyStandard(body, r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), key) {
			fmt.Println("REJECTED bad signature")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var event struct {
			ID    string          `json:"id"`
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		if !seen[event.ID] {
			seen[event.ID] = true
			fmt.Println("ok", event.Event, event.ID, string(event.Data))
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent) // any 2xx tells the bridge it arrived
	})
	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
