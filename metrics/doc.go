// Package metrics turns the events of a [mailer.Client] into Prometheus
// metrics, for any service that sends mail with the library:
//
//	m, err := metrics.New(prometheus.DefaultRegisterer, metrics.Label("qq"))
//	…
//	c, err := mailer.New(provider.QQ(user, pass), m.Option())
//
// It observes the events that [mailer.WithHook] delivers and keeps no
// other state than the collectors (and, per message in flight, the time
// its attempt started). The metrics, each with the label client (the
// value of [Label], from your configuration):
//
//	mailer_messages_sent_total{client}             messages delivered to at least one recipient
//	mailer_messages_failed_total{client,outcome}   messages given up, by the class of the last failure
//	mailer_retries_total{client,outcome}           attempts that failed and were retried, by class
//	mailer_attempt_duration_seconds{client,outcome} histogram: the time of each attempt, by its class
//	mailer_maybe_duplicates_total{client}          messages that may arrive twice (an unknown outcome was retried)
//	mailer_sends_in_flight{client}                 sends started and not yet finished
//	mailer_pool_connections{client,state}          open connections, idle or busy (with Metrics.Watch)
//
// outcome is one of delivered, temporary, unknown, permanent
// ([mailer.Outcome]; "other" if a later version adds one). No label ever
// holds an address, a user name, a Message-ID or a server reply:
// [mailer.Event.Account] is not used, since a Group names a Client by its
// server and user. Wire each Client (or each account of a Group) to a
// Metrics with its own Label; they may share one Registerer.
//
// The pool gauges come from [mailer.Client.Stats] at each scrape, for the
// Clients given to [Metrics.Watch]; sum the states for the open
// connections.
package metrics
