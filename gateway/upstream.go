package gateway

import (
	"fmt"
	"sync"

	"github.com/postkit/mailer"
)

// upstreams holds one mailer.Client per upstream. A reload keeps the
// Client of an upstream whose configuration and secret did not change (its
// pool stays warm) and retires the others: they finish their sends and
// close in the background.
type upstreams struct {
	g       *Gateway
	mu      sync.RWMutex
	clients map[string]*upClient
	retired sync.WaitGroup
}

type upClient struct {
	key    string
	host   string
	client *mailer.Client
}

func newUpstreams(g *Gateway) *upstreams {
	return &upstreams{g: g, clients: map[string]*upClient{}}
}

// apply makes the clients of s.
func (u *upstreams) apply(s *snapshot) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	next := map[string]*upClient{}
	var made []*mailer.Client
	for name, def := range s.upstreams {
		if cur := u.clients[name]; cur != nil && cur.key == def.key {
			next[name] = cur
			continue
		}
		c, err := mailer.New(def.opts...)
		if err != nil {
			for _, m := range made {
				m.Close()
			}
			return fmt.Errorf("upstream %s: %w", name, err)
		}
		made = append(made, c)
		next[name] = &upClient{key: def.key, host: def.host, client: c}
	}
	for name, cur := range u.clients {
		if next[name] != cur {
			u.retired.Add(1)
			go func() {
				defer u.retired.Done()
				cur.client.Close() // waits for its sends in flight
			}()
		}
	}
	u.clients = next
	return nil
}

func (u *upstreams) get(name string) *upClient {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return u.clients[name]
}

func (u *upstreams) close() {
	u.mu.Lock()
	for _, c := range u.clients {
		c.client.Close()
	}
	u.clients = map[string]*upClient{}
	u.mu.Unlock()
	u.retired.Wait()
}
