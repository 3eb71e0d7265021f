package outbox

import (
	"context"
	"fmt"
	"time"
)

// Stats counts the messages not yet final, for gauges and admission
// control (a maximum queue depth).
type Stats struct {
	// Due are PENDING messages never tried whose time has come.
	Due int64
	// Scheduled are PENDING messages never tried whose first attempt is
	// later (At), or that a throttling reply paused.
	Scheduled int64
	// Retrying are PENDING messages waiting for (or due for) another
	// attempt after a temporary failure.
	Retrying int64
	// Sending are messages being sent now.
	Sending int64
	// Oldest is when the oldest PENDING or SENDING message was enqueued;
	// zero when there is none.
	Oldest time.Time
}

// Depth is the number of messages not yet final.
func (s Stats) Depth() int64 { return s.Due + s.Scheduled + s.Retrying + s.Sending }

// Stats counts the PENDING and SENDING messages in one query.
func (o *Outbox[TTx]) Stats(ctx context.Context) (Stats, error) {
	now := time.Now().UnixMicro()
	rows, err := o.store.Query(ctx, "SELECT status, CASE WHEN attempts > 0 THEN 1 ELSE 0 END, CASE WHEN next_at > ? THEN 1 ELSE 0 END, COUNT(*), MIN(created_at) FROM "+
		o.q.table+" WHERE status IN (?, ?) GROUP BY 1, 2, 3", now, string(StatusPending), string(StatusSending))
	if err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	defer rows.Close()
	var (
		s      Stats
		oldest int64
	)
	for rows.Next() {
		var (
			st              string
			tried, later    int64
			n, minCreatedAt int64
		)
		if err := rows.Scan(&st, &tried, &later, &n, &minCreatedAt); err != nil {
			return Stats{}, fmt.Errorf("outbox: stats: %w", err)
		}
		switch {
		case Status(st) == StatusSending:
			s.Sending += n
		case tried == 1:
			s.Retrying += n
		case later == 1:
			s.Scheduled += n
		default:
			s.Due += n
		}
		if oldest == 0 || minCreatedAt < oldest {
			oldest = minCreatedAt
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	if oldest != 0 {
		s.Oldest = time.UnixMicro(oldest)
	}
	return s, nil
}
