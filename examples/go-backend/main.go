// Command go-backend is an example business backend for the Cardea gateway,
// written with the Go standard library only. It:
//
//   - answers the auth_http module's callbacks (POST /auth), deciding from
//     a JSON file of users and rooms, after verifying the request's
//     X-Cardea-Signature HMAC;
//   - issues HS256 JWTs for its users (GET /token?user=ID) that the
//     gateway's auth_jwt module can verify locally, and accepts them on
//     /auth too;
//   - receives the webhook module's event batches (POST /events), verifies
//     their signature and logs them;
//   - with -create-room N, calls the gateway's REST API to create a
//     videoroom room and exits.
//
// See README.md for wiring it to a gateway.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

type User struct {
	ID         string  `json:"id"`
	Token      string  `json:"token"`
	Display    string  `json:"display"`
	Publish    bool    `json:"publish"`
	Subscribe  bool    `json:"subscribe"`
	Moderate   bool    `json:"moderate"`
	MaxBitrate int64   `json:"max_bitrate"`
	Rooms      []int64 `json:"rooms"`
}

type Backend struct {
	users     map[string]*User // by id
	byToken   map[string]*User
	secret    []byte // HMAC key shared with auth_http / webhook
	jwtSecret []byte // HS256 key shared with auth_jwt
	mu        sync.Mutex
	events    int
}

func loadUsers(path string) ([]*User, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Users []*User `json:"users"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f.Users, nil
}

// verify checks "X-Cardea-Signature: sha256=<hex>" over the raw body.
func (b *Backend) verify(r *http.Request, body []byte) bool {
	if len(b.secret) == 0 {
		return true
	}
	got := strings.TrimPrefix(r.Header.Get("X-Cardea-Signature"), "sha256=")
	want, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, b.secret)
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), want)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

type authRequest struct {
	Action    string          `json:"action"`
	Token     string          `json:"token"`
	SessionID int64           `json:"session_id"`
	HandleID  int64           `json:"handle_id"`
	Plugin    string          `json:"plugin"`
	Room      json.RawMessage `json:"room"`
	Display   string          `json:"display"`
	// The client's address as the gateway saw it (the proxy's, behind one).
	RemoteAddr string `json:"remote_addr"`
}

func deny(w http.ResponseWriter, reason string) {
	writeJSON(w, map[string]any{"allow": false, "reason": reason})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// userFor finds the user behind a token: one of ours (JWT) or a static one.
func (b *Backend) userFor(token string) *User {
	if u := b.byToken[token]; u != nil {
		return u
	}
	if sub, err := verifyJWT(token, b.jwtSecret); err == nil {
		return b.users[sub]
	}
	return nil
}

func (b *Backend) handleAuth(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if !b.verify(r, body) {
		log.Printf("auth: bad signature from %s", r.RemoteAddr)
		http.Error(w, `{"allow": false, "reason": "bad signature"}`, http.StatusUnauthorized)
		return
	}
	var req authRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	u := b.userFor(req.Token)
	if u == nil {
		log.Printf("auth: %s denied: unknown token", req.Action)
		deny(w, "unknown user")
		return
	}
	// Room-scoped actions: the room must be one of the user's.
	if len(req.Room) > 0 {
		var room int64
		if err := json.Unmarshal(req.Room, &room); err != nil || !contains(u.Rooms, room) {
			log.Printf("auth: %s by %s denied: room %s", req.Action, u.ID, string(req.Room))
			deny(w, "room not allowed")
			return
		}
	}
	switch req.Action {
	case "videoroom.join.publisher", "broadcast.present", "whip.publish":
		if !u.Publish {
			deny(w, "not allowed to publish")
			return
		}
	case "videoroom.join.subscriber", "broadcast.watch", "whep.play":
		if !u.Subscribe {
			deny(w, "not allowed to subscribe")
			return
		}
	case "videoroom.create", "videoroom.destroy", "videoroom.kick", "videoroom.moderate":
		if !u.Moderate {
			deny(w, "not a moderator")
			return
		}
	}
	log.Printf("auth: %s by %s from %s allowed", req.Action, u.ID, req.RemoteAddr)
	writeJSON(w, map[string]any{
		"allow":   true,
		"user_id": u.ID,
		"display": u.Display,
		"permissions": map[string]any{
			"publish": u.Publish, "subscribe": u.Subscribe, "moderate": u.Moderate,
			"max_bitrate": u.MaxBitrate, "rooms": u.Rooms,
		},
	})
}

func contains(list []int64, v int64) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (b *Backend) handleEvents(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if !b.verify(r, body) {
		log.Printf("events: bad signature from %s", r.RemoteAddr)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var batch []struct {
		ID        int64           `json:"id"`
		Type      string          `json:"type"`
		Timestamp int64           `json:"timestamp"`
		SessionID int64           `json:"session_id"`
		HandleID  int64           `json:"handle_id"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.events += len(batch)
	b.mu.Unlock()
	for _, e := range batch {
		log.Printf("event %d %s session=%d handle=%d data=%s", e.ID, e.Type, e.SessionID, e.HandleID, string(e.Data))
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleToken issues a JWT for a user. A real backend authenticates the
// caller first (its own login session); this example trusts the query.
func (b *Backend) handleToken(w http.ResponseWriter, r *http.Request) {
	u := b.users[r.URL.Query().Get("user")]
	if u == nil {
		http.Error(w, "unknown user", http.StatusNotFound)
		return
	}
	now := time.Now().Unix()
	claims := map[string]any{
		"sub": u.ID, "name": u.Display, "iss": "go-backend", "aud": "cardea",
		"iat": now, "exp": now + 3600,
		"permissions": map[string]any{
			"publish": u.Publish, "subscribe": u.Subscribe, "moderate": u.Moderate,
			"max_bitrate": u.MaxBitrate, "rooms": u.Rooms,
		},
	}
	tok, err := signJWT(claims, b.jwtSecret)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"token": tok, "expires_in": 3600})
}

// ---- HS256 JWTs (RFC 7519), enough for this example ----

var b64 = base64.RawURLEncoding

func signJWT(claims map[string]any, key []byte) (string, error) {
	if len(key) == 0 {
		return "", errors.New("no -jwt-secret configured")
	}
	h, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + b64.EncodeToString(mac.Sum(nil)), nil
}

func verifyJWT(tok string, key []byte) (string, error) {
	parts := strings.Split(tok, ".")
	if len(key) == 0 || len(parts) != 3 {
		return "", errors.New("not a JWT")
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return "", err
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &h) != nil || h.Alg != "HS256" {
		return "", errors.New("algorithm refused")
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return "", errors.New("bad signature")
	}
	cb, err := b64.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var c struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	if json.Unmarshal(cb, &c) != nil || c.Exp <= time.Now().Unix() {
		return "", errors.New("expired")
	}
	return c.Sub, nil
}

// ---- creating a room over the gateway's REST API ----

func janus(url string, req map[string]any) (map[string]any, error) {
	req["transaction"] = fmt.Sprintf("gb-%d", time.Now().UnixNano())
	body, _ := json.Marshal(req)
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if out["janus"] == "error" {
		return out, fmt.Errorf("gateway error: %v", out["error"])
	}
	return out, nil
}

func createRoom(gateway, token string, room int64, description string) error {
	withToken := func(m map[string]any) map[string]any {
		if token != "" {
			m["token"] = token
		}
		return m
	}
	r, err := janus(gateway, withToken(map[string]any{"janus": "create"}))
	if err != nil {
		return err
	}
	sid := int64(r["data"].(map[string]any)["id"].(float64))
	defer janus(fmt.Sprintf("%s/%d", gateway, sid), withToken(map[string]any{"janus": "destroy"}))
	r, err = janus(fmt.Sprintf("%s/%d", gateway, sid), withToken(map[string]any{"janus": "attach", "plugin": "janus.plugin.videoroom"}))
	if err != nil {
		return err
	}
	hid := int64(r["data"].(map[string]any)["id"].(float64))
	r, err = janus(fmt.Sprintf("%s/%d/%d", gateway, sid, hid), withToken(map[string]any{"janus": "message",
		"body": map[string]any{"request": "create", "room": room, "description": description}}))
	if err != nil {
		return err
	}
	out, _ := json.Marshal(r["plugindata"])
	fmt.Println(string(out))
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to serve /auth, /events and /token on")
	usersPath := flag.String("users", "users.json", "users and their rooms")
	secret := flag.String("secret", os.Getenv("CARDEA_HOOK_SECRET"), "HMAC secret shared with auth_http/webhook (secret = ...)")
	jwtSecret := flag.String("jwt-secret", os.Getenv("CARDEA_JWT_SECRET"), "HS256 key shared with auth_jwt")
	gateway := flag.String("gateway", "http://127.0.0.1:8088/janus", "the gateway's Janus REST API (for -create-room)")
	room := flag.Int64("create-room", 0, "create this videoroom room on the gateway, print the answer and exit")
	token := flag.String("token", "", "token to present to the gateway with -create-room")
	flag.Parse()
	if *room != 0 {
		if err := createRoom(*gateway, *token, *room, "created by go-backend"); err != nil {
			log.Fatal(err)
		}
		return
	}
	users, err := loadUsers(*usersPath)
	if err != nil {
		log.Fatal(err)
	}
	b := &Backend{users: map[string]*User{}, byToken: map[string]*User{}, secret: []byte(*secret), jwtSecret: []byte(*jwtSecret)}
	for _, u := range users {
		b.users[u.ID] = u
		if u.Token != "" {
			b.byToken[u.Token] = u
		}
	}
	if len(b.secret) == 0 {
		log.Printf("warning: no -secret: gateway requests are not verified")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/auth", b.handleAuth)
	mux.HandleFunc("/events", b.handleEvents)
	mux.HandleFunc("/token", b.handleToken)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("go-backend listening on %s (%d users)", *listen, len(users))
	log.Fatal(srv.ListenAndServe())
}
