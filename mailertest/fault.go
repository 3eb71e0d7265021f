package mailertest

import "time"

// A Step is a point of the SMTP conversation where a Fault can strike.
type Step string

// Steps, in the order of a transaction. StepDataEnd is the final "." of the
// message data and the reply to it.
const (
	StepGreeting Step = "greeting"
	StepEHLO     Step = "ehlo" // EHLO or HELO
	StepSTARTTLS Step = "starttls"
	StepAUTH     Step = "auth"
	StepMAIL     Step = "mail"
	StepRCPT     Step = "rcpt"
	StepDATA     Step = "data"
	StepBody     Step = "body" // the message data, before its first line is read
	StepDataEnd  Step = "dataend"
	StepRSET     Step = "rset"
	StepNOOP     Step = "noop"
	StepQUIT     Step = "quit"
)

// A Fault changes how the server answers at one step. Occurrences are
// counted per step over the whole server, from 1, so On: 2 at StepDataEnd
// means "the second message's final dot", whichever connection carries it.
//
// Exactly one of Reply, Raw and Drop is usually set; Delay, After and Close
// combine with any of them (and with none, to delay or follow a normal
// reply).
//
// Some steps read the fields their own way:
//   - StepAUTH: an AUTH command counts once however many lines its
//     exchange takes (CRAM-MD5, LOGIN); the fault answers the command.
//   - StepSTARTTLS: After bytes follow the 220 before the TLS handshake
//     (response injection); a careful client discards them.
//   - StepBody: Drop resets the connection (TCP RST) before the data is
//     read, so the client's writes fail; Reply answers in the middle of
//     the data and stops reading, as a server refusing a message early,
//     until the server closes (or, with Close, closes the connection).
type Fault struct {
	// Step is where the fault strikes.
	Step Step
	// On is the occurrence of Step it strikes at; 0 means every occurrence.
	On int
	// Delay is how long the server waits before answering. Server.Close
	// interrupts the wait.
	Delay time.Duration
	// Reply replaces the server's reply, for example "451 4.3.0 Try again
	// later". The command is not passed on, so a refused RCPT adds no
	// recipient; at StepDataEnd the message is discarded.
	Reply string
	// Raw bytes are written instead of any reply, for example garbage as
	// QQ Mail sends after QUIT. At StepDataEnd the message is kept.
	Raw []byte
	// After bytes are written after the reply.
	After []byte
	// Drop closes the connection instead of answering. At StepDataEnd the
	// message is kept: the server committed it but its reply was lost,
	// which leaves the client unsure whether it was delivered.
	Drop bool
	// Close closes the connection after answering.
	Close bool
}

// FaultFunc decides the fault, if any, at occurrence n of step. It is called
// for every step the server sees, from the connection's goroutine; it must
// be safe for concurrent use.
type FaultFunc func(step Step, n int) *Fault

// WithFaults adds faults. The first fault that matches a step and
// occurrence applies.
func WithFaults(faults ...Fault) Option {
	return func(o *options) { o.faults = append(o.faults, faults...) }
}

// WithFaultFunc sets a function consulted when no fault of WithFaults
// matches, for random or stateful fault injection.
func WithFaultFunc(f FaultFunc) Option {
	return func(o *options) { o.faultFunc = f }
}

// WithAttemptFaultFunc sets a function consulted at each final dot that no
// other fault matched, with the message's Message-ID (as in its header,
// angle brackets included) and attempt, how many times this server has now
// seen that Message-ID at the final dot, from 1; the count includes the
// final dots that a fault of WithFaults or WithFaultFunc answered. Faults
// can so follow a message across its retries: "451 on every message's
// first attempt, 250 on the next" makes retries as certain as they are in
// production, whatever order the messages arrive in. A message without a
// Message-ID is not passed to f.
func WithAttemptFaultFunc(f func(messageID string, attempt int) *Fault) Option {
	return func(o *options) { o.attemptFault = f }
}

// attemptFault counts a final dot of the message with Message-ID id and,
// if consult, returns the fault of WithAttemptFaultFunc for it.
func (s *Server) attemptFault(id string, consult bool) *Fault {
	if s.opts.attemptFault == nil || id == "" {
		return nil
	}
	s.mu.Lock()
	s.attempts[id]++
	n := s.attempts[id]
	s.mu.Unlock()
	if !consult {
		return nil
	}
	return s.opts.attemptFault(id, n)
}

func (s *Server) faultFor(step Step) *Fault {
	s.mu.Lock()
	s.counts[step]++
	n := s.counts[step]
	s.mu.Unlock()
	for i := range s.opts.faults {
		f := &s.opts.faults[i]
		if f.Step == step && (f.On == 0 || f.On == n) {
			return f
		}
	}
	if s.opts.faultFunc != nil {
		return s.opts.faultFunc(step, n)
	}
	return nil
}
