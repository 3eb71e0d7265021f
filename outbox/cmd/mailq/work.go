package main

import (
	"context"
	"encoding/json"

	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
)

// drainTimeout bounds how long work waits for sends in flight at the end.
const drainTimeout = 30 * time.Second

// work runs the workers until ctx ends (SIGINT, SIGTERM) or, with
// -exit-when-idle, until nothing is due; then it drains.
func work[TTx any](ctx context.Context, c *command, ob *outbox.Outbox[TTx]) error {
	// Start's context must outlive the signal: the drain comes after it.
	if err := ob.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	fmt.Fprintln(c.stderr, "mailq work: started; SIGINT or SIGTERM stops after the sends in flight")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			if c.exitWhenIdle {
				idle, err := nothingDue(ctx, ob)
				if err != nil {
					c.stopQuietly(ob)
					return err
				}
				if idle {
					break loop
				}
			}
		}
	}
	// A second SIGINT or SIGTERM cuts the drain short: Stop then cancels
	// the sends in flight, and those before the final dot are PENDING
	// again.
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	go func() {
		select {
		case <-c.forced:
			cancel()
		case <-sctx.Done():
		}
	}()
	if ctx.Err() != nil {
		fmt.Fprintln(c.stderr, "mailq work: stopping after the sends in flight; SIGINT or SIGTERM again cancels them")
	}
	err := ob.Stop(sctx)
	select {
	case <-c.forced:
		if err != nil {
			err = fmt.Errorf("interrupted again: the sends in flight were cancelled (those before the final dot are PENDING again): %w", err)
		}
	default:
	}
	fmt.Fprintln(c.stderr, "mailq work: stopped")
	return err
}

func (c *command) stopQuietly(s interface{ Stop(context.Context) error }) {
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	_ = s.Stop(sctx)
}

// nothingDue reports that no record is SENDING and none PENDING is due.
func nothingDue[TTx any](ctx context.Context, ob *outbox.Outbox[TTx]) (bool, error) {
	now := time.Now()
	var cur outbox.Cursor
	for {
		recs, next, err := ob.List(ctx, outbox.Filter{Status: []outbox.Status{outbox.StatusPending, outbox.StatusSending}, Limit: 1000, After: cur})
		if err != nil {
			return false, err
		}
		for _, r := range recs {
			if r.Status == outbox.StatusSending || !r.NextAttemptAt.After(now) {
				return false, nil
			}
		}
		if next == "" {
			return true, nil
		}
		cur = next
	}
}

var printMu sync.Mutex

// printEvent prints a status change; hooks run on several workers.
func (c *command) printEvent(_ context.Context, e mailer.Event) {
	var detail string
	switch e.Status {
	case mailer.StatusSending:
		detail = fmt.Sprintf("attempt %d", e.Attempt)
	case mailer.StatusSent:
		detail = e.Response
	case mailer.StatusRetrying:
		detail = fmt.Sprintf("next attempt in %v: %v", e.Wait.Round(time.Millisecond), e.Err)
	case mailer.StatusFailed:
		if e.Outcome == mailer.OutcomeUnknown {
			detail = "UNKNOWN (may have been delivered): "
		}
		detail += fmt.Sprint(e.Err)
	}
	printMu.Lock()
	defer printMu.Unlock()
	fmt.Fprintf(c.stdout, "%-8s %s %s\n", e.Status, e.MessageID, detail)
}

// list_ prints the records in -status, oldest first.
func list_[TTx any](ctx context.Context, c *command, ob *outbox.Outbox[TTx]) error {
	f := outbox.Filter{Limit: 1000}
	if c.status != "" {
		f.Status = []outbox.Status{outbox.Status(strings.ToUpper(c.status))}
	}
	var all []outbox.Record
	for {
		recs, next, err := ob.List(ctx, f)
		if err != nil {
			return err
		}
		all = append(all, recs...)
		if next == "" || c.limit > 0 && len(all) >= c.limit {
			break
		}
		f.After = next
	}
	if c.limit > 0 && len(all) > c.limit {
		all = all[:c.limit]
	}
	return c.printRecords(all, false)
}

// printRecords prints a table (list), key-value lines (show) or JSON.
func (c *command) printRecords(recs []outbox.Record, one bool) error {
	if c.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if one {
			return enc.Encode(recs[0])
		}
		if recs == nil {
			recs = []outbox.Record{}
		}
		return enc.Encode(recs)
	}
	if one {
		r := recs[0]
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 1, ' ', 0)
		fmt.Fprintf(tw, "Message-ID:\t%s\n", r.MessageID)
		fmt.Fprintf(tw, "Status:\t%s\n", r.Status)
		fmt.Fprintf(tw, "Attempts:\t%d\n", r.Attempts)
		if !r.NextAttemptAt.IsZero() {
			fmt.Fprintf(tw, "Next attempt:\t%s\n", r.NextAttemptAt.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(tw, "Envelope:\tfrom <%s> to %s\n", r.Envelope.From, strings.Join(r.Envelope.To, ", "))
		fmt.Fprintf(tw, "Size:\t%d bytes\n", r.Size)
		if r.LastCode != 0 {
			fmt.Fprintf(tw, "Last code:\t%d %s\n", r.LastCode, r.LastEnhancedCode)
		}
		if r.Response != "" {
			fmt.Fprintf(tw, "Response:\t%s\n", r.Response)
		}
		if r.LastError != "" {
			fmt.Fprintf(tw, "Last error:\t%s\n", r.LastError)
		}
		fmt.Fprintf(tw, "Created:\t%s\n", r.CreatedAt.UTC().Format(time.RFC3339))
		fmt.Fprintf(tw, "Updated:\t%s\n", r.UpdatedAt.UTC().Format(time.RFC3339))
		return tw.Flush()
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MESSAGE-ID\tSTATUS\tATTEMPTS\tUPDATED\tTO\tLAST")
	for _, r := range recs {
		last := r.Response
		if r.Status != outbox.StatusSent {
			last = r.LastError
		}
		if len(last) > 60 {
			cut := 60
			for cut > 0 && !utf8.RuneStart(last[cut]) {
				cut-- // never inside a character
			}
			last = last[:cut] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.MessageID, r.Status, r.Attempts,
			r.UpdatedAt.UTC().Format("2006-01-02 15:04:05Z"), strings.Join(r.Envelope.To, ","), last)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(recs) == 0 {
		fmt.Fprintln(c.stderr, "mailq list: no records")
	}
	return nil
}
