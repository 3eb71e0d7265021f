package outbox

import (
	"context"
	"database/sql"
	"testing"
)

// close reports a committer that has stopped as stopped even when its
// context has ended too. Stop's context ending just as River's workers
// finished made Stop return the context's error although everything had
// stopped: select picks at random among ready cases, so each call below
// failed with even odds.
func TestCloseAfterCommitterStopped(t *testing.T) {
	g := newGroupCommit(&Outbox[*sql.Tx]{})
	if err := g.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 100 {
		if err := g.close(ctx); err != nil {
			t.Fatalf("close #%d, its context ended, the committer stopped: %v", i, err)
		}
	}
}
