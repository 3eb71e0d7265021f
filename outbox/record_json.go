package outbox

import (
	"encoding/json"

	"github.com/postkit/mailer"
)

// jsonEnvelope is the envelope in a Record's JSON, with lower-case keys
// like the rest of the record.
type jsonEnvelope struct {
	From     string      `json:"from"`
	To       []string    `json:"to"`
	SMTPUTF8 bool        `json:"smtputf8,omitempty"`
	DSN      *mailer.DSN `json:"dsn,omitempty"`
}

type recordAlias Record

type jsonRecord struct {
	recordAlias
	Envelope jsonEnvelope `json:"envelope"`
}

// MarshalJSON writes the record with lower-case keys throughout, as
// `mailq list -json` prints it.
func (r Record) MarshalJSON() ([]byte, error) {
	j := jsonRecord{recordAlias: recordAlias(r), Envelope: jsonEnvelope{From: r.Envelope.From, To: r.Envelope.To, SMTPUTF8: r.Envelope.SMTPUTF8}}
	if !r.Envelope.DSN.IsZero() {
		j.Envelope.DSN = &r.Envelope.DSN
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j jsonRecord
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Record(j.recordAlias)
	r.Envelope = mailer.Envelope{From: j.Envelope.From, To: j.Envelope.To, SMTPUTF8: j.Envelope.SMTPUTF8}
	if j.Envelope.DSN != nil {
		r.Envelope.DSN = *j.Envelope.DSN
	}
	return nil
}
