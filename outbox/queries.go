package outbox

import "strings"

// queries holds the outbox's SQL with the table name filled in.
type queries struct {
	table, versions string
	insertCols      string
	recordCols      string
	// claim and status are the group commit's statements (batchsql.go).
	claim, status string
	// orphans selects the records the sweep settles (sweep.go).
	orphans string
}

func newQueries(schema string) queries {
	q := queries{table: "mail_outbox", versions: "mail_outbox_version"}
	if schema != "" {
		q.table = quoteIdent(schema) + ".mail_outbox"
		q.versions = quoteIdent(schema) + ".mail_outbox_version"
	}
	q.insertCols = "(message_id, status, next_at, envelope, size, body, created_at, updated_at, route)"
	q.recordCols = "message_id, job_id, status, attempts, next_at, last_code, last_enhanced, last_error, response, envelope, size, created_at, updated_at, route"
	return q
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
