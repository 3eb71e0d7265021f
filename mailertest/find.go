package mailertest

import (
	"context"
	"fmt"
	"strings"
)

// addMessage records m and wakes the callers of WaitForMessages.
func (s *Server) addMessage(m Message) {
	s.mu.Lock()
	s.messages = append(s.messages, m)
	if s.arrived != nil {
		close(s.arrived)
		s.arrived = nil
	}
	s.mu.Unlock()
}

// Messages returns the messages accepted so far, in order of acceptance,
// decoded (see [Message]).
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messagesLocked()
}

// messagesLocked decodes the messages not decoded yet, once each, and
// returns a copy of the list. s.mu must be held.
func (s *Server) messagesLocked() []Message {
	for i := range s.messages {
		if !s.messages[i].decoded {
			s.messages[i].decode()
		}
	}
	return append([]Message(nil), s.messages...)
}

// Find returns the messages accepted so far for which match returns true,
// in order of acceptance.
func (s *Server) Find(match func(Message) bool) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if match(m) {
			out = append(out, m)
		}
	}
	return out
}

// MessagesTo returns the messages with addr among their envelope
// recipients (RCPT TO, so Bcc recipients count), compared without regard
// to case.
func (s *Server) MessagesTo(addr string) []Message {
	return s.Find(func(m Message) bool { return m.HasRecipient(addr) })
}

// MessagesWithSubject returns the messages whose decoded subject contains
// substr.
func (s *Server) MessagesWithSubject(substr string) []Message {
	return s.Find(func(m Message) bool { return strings.Contains(m.Subject, substr) })
}

// WaitForMessages waits until the server has accepted at least n messages
// since it started (or since Reset) and returns them all. It is for code
// that sends in the background, such as from a queue worker: it returns
// as soon as the n-th message arrives, without polling. When ctx ends
// first, it returns the messages so far and an error that says how many
// arrived and wraps ctx.Err().
func (s *Server) WaitForMessages(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		if len(s.messages) >= n {
			msgs := s.messagesLocked()
			s.mu.Unlock()
			return msgs, nil
		}
		if s.arrived == nil {
			s.arrived = make(chan struct{})
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			msgs := s.Messages()
			return msgs, fmt.Errorf("mailertest: %d of %d messages arrived: %w", len(msgs), n, ctx.Err())
		}
	}
}

// HasRecipient reports whether addr is one of the envelope recipients of
// m, compared without regard to case.
func (m Message) HasRecipient(addr string) bool {
	for _, to := range m.To {
		if strings.EqualFold(to, addr) {
			return true
		}
	}
	return false
}

// Attachment returns the first attachment named filename.
func (m Message) Attachment(filename string) (Part, bool) {
	for _, p := range m.Attachments {
		if p.Filename == filename {
			return p, true
		}
	}
	return Part{}, false
}
