package mailer

import (
	"context"
	"errors"
	"fmt"
)

// ErrCloseInHook is returned by Close and Shutdown when they are called from
// a hook of the same Client: they would wait for the Send that runs the
// hook, which waits for the hook. Nothing is closed; call Close from
// another goroutine (go c.Close() in the hook will do).
var ErrCloseInHook = errors.New("mailer: Close called from a hook of the same Client would wait for itself; call it from another goroutine")

// errAborted is the cause given to the sends that Shutdown cancelled
// because its context ended first.
var errAborted = fmt.Errorf("%w: %w by Shutdown, whose context ended first", ErrClientClosed, context.Canceled)

// Close is Shutdown with no deadline: it waits for the sends in flight to
// finish, however long their own contexts, timeouts and retry policy let
// them run, then says QUIT on every pooled connection in parallel (at most
// 5.5 s) and releases the Client's resources. Send and SendAll fail with
// ErrClientClosed afterwards. Close is safe to call more than once and
// from several goroutines. To bound the time it takes, use Shutdown with a
// deadline. Called from a hook of the Client, Close returns
// ErrCloseInHook and does nothing.
func (c *Client) Close() error { return c.Shutdown(context.Background()) }

// Shutdown closes the Client like Close, but when ctx ends before the
// sends in flight do, it cancels them (their connections are closed at
// once, whatever they were doing; their errors match both ErrClientClosed
// and context.Canceled, and are permanent, except that a send cancelled
// while it waited to retry keeps the class of its last reply, such as
// temporary after a 451, and one cancelled after its data was sent is
// unknown, see below), waits for them to return,
// which takes no longer than the hooks they are running, closes the idle
// connections without waiting for QUIT's reply, and returns ctx.Err().
// A message cancelled after its data was sent may still be delivered;
// its error says so (ErrMaybeDelivered).
//
//	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	err := c.Shutdown(ctx) // at most about 10 s
//
// Send and SendAll fail with ErrClientClosed once Shutdown has been
// called. Called from a hook of the Client, Shutdown returns
// ErrCloseInHook and does nothing.
func (c *Client) Shutdown(ctx context.Context) error {
	if c.hooks.inHook() {
		return ErrCloseInHook
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	var err error
	if ctx.Done() == nil {
		c.inflight.Wait()
	} else {
		done := make(chan struct{})
		go func() {
			c.inflight.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
			c.abortAll(errAborted)
			<-done
		}
	}
	c.closeOnce.Do(func() {
		c.pool.close(ctx)
		c.abortAll(errAborted) // releases the context
	})
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// watch returns a context derived from ctx that Shutdown cancels when it
// gives up waiting, and the function that releases it.
func (c *Client) watch(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(c.stop, func() { cancel(errAborted) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// contextErr returns ctx.Err(), or the reason Shutdown cancelled the send.
func contextErr(ctx context.Context) error {
	err := ctx.Err()
	if err != nil && context.Cause(ctx) == errAborted {
		return errAborted
	}
	return err
}
