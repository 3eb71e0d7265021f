// Package mailer sends transactional mail (password resets, verification
// codes, alerts, receipts) through an SMTP submission server: an account at
// a provider such as Gmail, QQ Mail, 163, Outlook or Amazon SES, or a relay
// inside a company network.
//
// A [Client] is configured once, with a provider preset, a URL or options,
// and is then safe to share between goroutines like an *http.Client. A
// [Message] is an immutable value made by a [MessageBuilder]; it can be sent
// many times, and every attempt carries the same Message-ID.
//
// The package follows RFC 5321 (SMTP), RFC 5322 (message format), RFC 2045
// to 2047 and 2231 (MIME and encoded words), RFC 3207 (STARTTLS), RFC 8314
// (implicit TLS for submission), RFC 4954 (SMTP AUTH), RFC 3463 (enhanced
// status codes), RFC 6531 (SMTPUTF8) and RFC 8058 (one-click unsubscribe).
// The SMTP session (greeting, EHLO, STARTTLS, AUTH with go-mail's SASL
// mechanisms, the transactions) is driven by this package over
// net/textproto, so that each stage is classified exactly; MIME is written
// by this package on the standard library, streaming attachments.
//
// # Getting started
//
//	c, err := mailer.New(provider.QQ("alice@qq.com", authCode))
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer c.Close()
//
//	msg, err := mailer.NewMessage().
//		From("系统通知 <alice@qq.com>").
//		To("bob@example.com").
//		Subject("重置您的密码").
//		Text("Your code is 123456").
//		Build()
//	if err != nil {
//		log.Fatal(err) // every problem at once, each naming its field
//	}
//	receipt, err := c.Send(ctx, msg)
//
// The same Client from a URL:
//
//	c, err := mailer.New(mailer.WithURL("smtps://alice%40qq.com:code@smtp.qq.com:465"))
//
// # Safe defaults
//
// With no options beyond the server, a Client uses STARTTLS on port 587 and
// requires it (port 465 means implicit TLS), verifies certificates with TLS
// 1.2 or newer, never sends credentials over a connection without TLS
// (loopback included) unless [WithInsecureAuth] says so, bounds every
// network step with a timeout, and logs nothing. Trust a private CA with
// [WithRootCAs] or [WithCAFile]; there is no way to skip verification.
//
// What a server sends is bounded and cleaned, from the greeting on (before
// TLS too): a reply line may be 4 KiB long and a multiline reply 64 KiB
// (RFC 5321 asks for 512 octets per line); a longer one, or a line cut
// short by a deadline, is a protocol error of the stage it came in. Reply
// text in errors, logs and events is capped, stripped of control
// characters, and scrubbed of the client's password or token and their
// base64 forms, in case the server echoes the AUTH exchange.
//
// # Errors
//
// A failed delivery returns a [*SendError] with the stage that failed, the
// server's reply code, enhanced code and (sanitised) text, and a hint for
// known provider replies such as QQ Mail's "535 Login Fail" (use the
// authorization code). [Classify] sorts any error into delivered,
// temporary, unknown or permanent: a message that the server accepted is
// never reported as failed because of a broken QUIT afterwards. Invalid
// messages and options fail before anything is sent, with a [*FieldError] or
// [*ConfigError]; sentinels such as [ErrInvalidAddress], [ErrTLSRequired]
// and [ErrAuth] work with errors.Is.
//
// # Retries and events
//
// Send retries temporary failures and, by default, unknown outcomes, with
// exponential backoff and jitter ([RetryPolicy], [WithRetry]); every attempt
// carries the same Message-ID. Hooks ([WithHook]) observe each Send as
// events: pending, sending, retrying, and exactly one sent or failed,
// called on the sending goroutine, so that the terminal event has been
// handled when Send returns and no event is ever dropped.
//
// # Connections and throughput
//
// A Client keeps a pool of connections shared by all its goroutines
// ([WithPool], 4 by default). It reuses each for up to 100 messages
// ([WithMessagesPerConnection]), checks one that was idle with NOOP
// ([WithIdleCheck]), replaces one the server closed without using up an
// attempt, and pipelines MAIL, RCPT and DATA when the server offers
// PIPELINING (RFC 2920). [Client.SendAll] sends a batch concurrently over
// the pool; [WithRateLimit] spaces messages evenly for all goroutines;
// provider presets set their published limits. [Client.Close] waits for the
// sends in flight, then closes the connections; [Client.Shutdown] does the
// same within a deadline.
//
// # Raw messages and envelopes
//
// [Client.SendRaw] sends an already rendered message to an [Envelope]
// (MAIL FROM, RCPT TO, SMTPUTF8, [DSN]) through the same pool, retries and
// events as Send; [Message.Bytes] and [Message.Envelope] render a Message
// once for it, so that it can be stored or signed and sent later. Both
// honour the SIZE extension (RFC 1870): a message larger than the server
// accepts fails before it is sent, with a [*SizeError]. [Sender] is the
// interface of Send and SendRaw; [ContextWithRetryPolicy] changes the
// retry policy of one call.
//
// # Cancellation
//
// The context given to [Client.Send] bounds the whole SMTP transaction, not
// only the dial: cancelling it aborts a connection in the middle of DATA. A
// pooled connection obeys the context of each Send that uses it.
//
// # Templates
//
// Package templates (github.com/postkit/mailer/templates) parses mail
// templates once from an fs.FS: per mail a subject, an HTML body
// (html/template) and optionally a text body, with shared layouts and
// locale variants ("zh-CN" falls back to "zh", then to the default
// locale), the CSS inlined at parse time. [MessageBuilder.Template]
// renders one into a message through the [TemplateRenderer] interface.
// The package also holds built-in verification, address-confirmation and
// password-reset mails in English and Chinese. It is separate so that a
// program that sends plain mail does not link the template machinery.
//
// # Testing
//
// Package mailertest runs a real SMTP server in process, with TLS, AUTH,
// scripted faults and a record of every message and command:
//
//	srv := mailertest.NewServer(t, mailertest.WithUser("alice", "secret"))
//	c, err := mailer.New(srv.Options())
package mailer
