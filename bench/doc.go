// Package bench holds the benchmarks of package mailer against baselines:
// go-mail used directly, and a standard-library streaming reference. It
// has no API; run it with
//
//	go test -run '^$' -bench . -benchmem ./bench
//
// Files are per concern (mime_test.go for message building and writing,
// template_test.go for rendering templates into messages).
package bench
