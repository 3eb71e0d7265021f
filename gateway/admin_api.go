package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// AdminTenant is one tenant as GET /api/tenants shows it. It holds no
// secret: identities are user names with their kind, or a certificate's
// subject; never a token, hash, password, key or file.
type AdminTenant struct {
	Name       string      `json:"name"`
	Mode       string      `json:"mode"`
	Upstreams  []string    `json:"upstreams"`
	Senders    []string    `json:"senders"`
	Identities []string    `json:"identities"`
	Limits     AdminLimits `json:"limits"`
	Paused     bool        `json:"paused"`
}

// AdminLimits are a tenant's effective limits; zero means none.
type AdminLimits struct {
	MaxMessageBytes   int64 `json:"max_message_bytes"`
	MaxRecipients     int   `json:"max_recipients"`
	MessagesPerMinute int   `json:"messages_per_minute,omitempty"`
	MessagesPerDay    int   `json:"messages_per_day,omitempty"`
	MaxConnections    int   `json:"max_connections,omitempty"`
}

// AdminQueue is GET /api/queue: the queue's counts and its newest
// messages (no body and no envelope recipients; see QueueItem.LastError).
type AdminQueue struct {
	Available     int64       `json:"available"`
	Retryable     int64       `json:"retryable"`
	Running       int64       `json:"running"`
	Held          int64       `json:"held"`
	OldestSeconds float64     `json:"oldest_seconds"`
	Items         []QueueItem `json:"items"`
}

// adminCallTimeout bounds a queue operation or a reload from the API.
const adminCallTimeout = 30 * time.Second

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (g *Gateway) apiTenants(w http.ResponseWriter, _ *http.Request) {
	s := g.snap.Load()
	out := []AdminTenant{}
	for _, row := range s.table().Tenants {
		t := s.tenants[row.Name]
		out = append(out, AdminTenant{Name: row.Name, Mode: row.Mode, Upstreams: row.Upstreams, Senders: row.Senders,
			Identities: row.Identities, Paused: g.paused.is(row.Name),
			Limits: AdminLimits{MaxMessageBytes: t.maxBytes, MaxRecipients: t.maxRcpt, MessagesPerMinute: t.perMinute,
				MessagesPerDay: t.perDay, MaxConnections: t.maxConns}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": out})
}

func (g *Gateway) apiPause(pause bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := r.PathValue("t")
		if !g.setPaused(t, pause) {
			http.Error(w, "no such tenant", http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"tenant": t, "paused": pause})
	}
}

func (g *Gateway) apiReload(w http.ResponseWriter, _ *http.Request) {
	err := g.ReloadConfig()
	switch {
	case errors.Is(err, errNoConfigSource):
		http.Error(w, "this gateway has no configuration file to reload", http.StatusNotImplemented)
	case errors.Is(err, errReloadDraining):
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	case err != nil:
		// The error names YAML paths and reasons, never a secret (the
		// compiler's errors hold none), and only an admin gets here.
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"result": "error", "error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"result": "ok", "tenants": len(g.snap.Load().tenants)})
	}
}

func (g *Gateway) apiQueue(w http.ResponseWriter, r *http.Request) {
	q := g.Queue()
	if q == nil {
		http.Error(w, "no queue (no durable queue delivery)", http.StatusNotFound)
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			http.Error(w, "limit: a number from 1 to 10000", http.StatusBadRequest)
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminCallTimeout)
	defer cancel()
	st, err := q.Stats(ctx)
	var items []QueueItem
	if err == nil {
		items, err = q.List(ctx, r.URL.Query().Get("tenant"), limit)
	}
	if err != nil {
		g.log.Error("admin: queue", "err", err)
		http.Error(w, "queue error", http.StatusInternalServerError)
		return
	}
	if items == nil {
		items = []QueueItem{}
	}
	writeJSON(w, http.StatusOK, AdminQueue{Available: st.Available, Retryable: st.Retryable, Running: st.Running,
		Held: st.Held, OldestSeconds: st.Oldest.Seconds(), Items: items})
}

func (g *Gateway) apiQueueOp(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := g.Queue()
		if q == nil {
			http.Error(w, "no queue (no durable queue delivery)", http.StatusNotFound)
			return
		}
		id := r.PathValue("id")
		ctx, cancel := context.WithTimeout(r.Context(), adminCallTimeout)
		defer cancel()
		var err error
		if op == "retry" {
			err = q.Retry(ctx, id)
		} else {
			err = q.Cancel(ctx, id)
		}
		switch {
		case errors.Is(err, ErrNotQueued):
			http.Error(w, "no such queued message", http.StatusNotFound)
		case err != nil:
			g.log.Error("admin: queue "+op, "id", cleanText(id, 64), "err", err)
			http.Error(w, "queue error", http.StatusInternalServerError)
		default:
			writeJSON(w, http.StatusOK, map[string]any{"id": id, "result": op})
		}
	}
}
