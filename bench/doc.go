// Package bench holds the benchmarks of package mailer against baselines:
// go-mail used directly, and a standard-library streaming reference. It
// has no API; run it with
//
//	go test -run '^$' -bench . -benchmem ./bench
//
// Files are per concern (mime_test.go for message building and writing,
// template_test.go for rendering templates into messages, throughput_test.go
// for sending over SMTP against net/smtp, go-mail and a raw pipelining
// ceiling, with sink_test.go as the server). The throughput numbers in the
// README come from
//
//	go test -run '^$' -bench Throughput -benchmem -benchtime 2000x ./bench
//
// The in-process benchmarks leave out what a user's program pays besides
// sending (building its messages, start-up) and share the CPU with the
// sink. The whole-process table runs each sender as its own program
// against a sink in another process (bench/cmd/sink): the raw pipelining
// ceiling (bench/cmd/ceiling), examples/bulk and go-mail (bench/cmd/gomail),
// and reports wall time, CPU time, CPU and allocations per message:
//
//	go run ./bench/cmd/table -n 10000 -runs 5
package bench
