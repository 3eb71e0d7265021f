package outbox_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/postkit/mailer"
	"github.com/postkit/mailer/outbox"
)

func TestRecordJSON(t *testing.T) {
	r := outbox.Record{MessageID: "a@example.com", Status: outbox.StatusSent, Attempts: 1, Response: "250 OK",
		Envelope:  mailer.Envelope{From: "app@example.com", To: []string{"b@example.com"}},
		CreatedAt: time.Unix(1700000000, 0).UTC(), UpdatedAt: time.Unix(1700000001, 0).UTC()}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, `"envelope":{"from":"app@example.com","to":["b@example.com"]}`) || strings.Contains(s, `"From"`) {
		t.Fatalf("JSON = %s", s)
	}
	var back outbox.Record
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
}
