package gateway

import (
	"context"
	"errors"
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
	// beforeSend, a test hook, runs between taking an upstream's Client
	// and sending through it.
	beforeSend func()
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

// sendRaw sends through up, upstream name's Client as get returned it. A
// reload may have retired that Client since (mailer.ErrClientClosed,
// nothing sent): the upstream's new Client, if it still has one, takes
// the message. Still ErrClientClosed means the reload removed the
// upstream.
func (u *upstreams) sendRaw(ctx context.Context, name string, up *upClient, env mailer.Envelope, msg []byte) (mailer.Receipt, error) {
	if u.beforeSend != nil {
		u.beforeSend()
	}
	rc, err := up.client.SendRaw(ctx, env, msg)
	if errors.Is(err, mailer.ErrClientClosed) && !errors.Is(err, mailer.ErrMaybeDelivered) {
		if next := u.get(name); next != nil && next != up {
			rc, err = next.client.SendRaw(ctx, env, msg)
		}
	}
	return rc, err
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
