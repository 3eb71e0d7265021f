// Package outbox is a durable outbox for mail: a message enqueued here
// survives a crash of the process and has a status record, keyed by its
// Message-ID, from PENDING to SENT, FAILED, UNKNOWN or CANCELLED. River
// schedules the work; SQLite is the embedded default and PostgreSQL lets
// several instances share it.
package outbox
