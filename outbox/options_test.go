package outbox_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
	"github.com/postkit/mailer/outbox/outboxsqlite"
)

// Invalid options are refused by New with an error that names the field.
func TestOptionsValidate(t *testing.T) {
	st, err := outboxsqlite.Open(filepath.Join(t.TempDir(), "o.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for field, o := range map[string]outbox.Options{
		"Workers":     {Workers: -1},
		"MaxAttempts": {MaxAttempts: 1001},
		"DBRetryWait": {DBRetryWait: -time.Second},
		"MinWait":     {MinWait: time.Hour, MaxWait: time.Minute},
		"MaxSnoozes":  {MaxSnoozes: -1},
		"RescueAfter": {JobTimeout: time.Minute, RescueAfter: time.Second},
		"Hooks":       {Hooks: []mailer.Hook{nil}},
	} {
		_, err := outbox.New(noSender{}, st, o)
		if !errors.Is(err, outbox.ErrInvalidOptions) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want ErrInvalidOptions naming the field", field, err)
		}
	}
	ob, err := outbox.New(noSender{}, st, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ob.Options().DBRetryWait; got != outbox.DefaultDBRetryWait {
		t.Errorf("DBRetryWait defaults to %v, want %v", got, outbox.DefaultDBRetryWait)
	}
}
