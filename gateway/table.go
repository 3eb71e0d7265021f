package gateway

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Table is the compiled tenant table `mailgate check` prints: for each
// tenant its identities, senders, limits and route.
type Table struct {
	Tenants []TenantRow
}

// TenantRow is one tenant of a Table. It holds no secret.
type TenantRow struct {
	Name       string
	Identities []string // "user billing-svc (token)", "cert san_dns=…"
	Senders    []string
	Mode       string
	Upstreams  []string
	Limits     string
}

func (s *snapshot) table() *Table {
	t := &Table{}
	for _, name := range s.tenantOrder {
		tn := s.tenants[name]
		row := TenantRow{Name: name, Senders: tn.senders, Mode: tn.mode, Upstreams: tn.chain}
		for _, u := range sortedUsers(s) {
			if u.tenant == name {
				id := fmt.Sprintf("user %s (%s)", u.username, credKindNames[u.kind])
				if !u.expires.IsZero() {
					id += " expires " + u.expires.Format("2006-01-02")
				}
				row.Identities = append(row.Identities, id)
			}
		}
		for _, c := range s.certs {
			if c.tenant == name {
				row.Identities = append(row.Identities, "cert "+certDesc(c.cert))
			}
		}
		lim := []string{fmt.Sprintf("size %d", tn.maxBytes), fmt.Sprintf("rcpt %d", tn.maxRcpt)}
		if tn.perMinute > 0 {
			lim = append(lim, fmt.Sprintf("%d/min", tn.perMinute))
		}
		if tn.perDay > 0 {
			lim = append(lim, fmt.Sprintf("%d/day", tn.perDay))
		}
		if tn.maxConns > 0 {
			lim = append(lim, fmt.Sprintf("conns %d", tn.maxConns))
		}
		row.Limits = strings.Join(lim, ", ")
		t.Tenants = append(t.Tenants, row)
	}
	return t
}

func sortedUsers(s *snapshot) []*credential {
	out := make([]*credential, 0, len(s.users))
	for _, name := range orderedKeys(s.users, nil) {
		out = append(out, s.users[name])
	}
	return out
}

func certDesc(c ClientCertConfig) string {
	var parts []string
	if c.SANDNS != "" {
		parts = append(parts, "san_dns="+c.SANDNS)
	}
	if c.CommonName != "" {
		parts = append(parts, "cn="+c.CommonName)
	}
	if c.SHA256 != "" {
		parts = append(parts, "sha256="+c.SHA256)
	}
	return strings.Join(parts, " ")
}

// WriteTo prints the table, one tenant a line.
func (t *Table) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	tw := tabwriter.NewWriter(cw, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tIDENTITIES\tSENDERS\tMODE\tUPSTREAMS\tLIMITS")
	for _, r := range t.Tenants {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, strings.Join(r.Identities, "; "), strings.Join(r.Senders, " "),
			r.Mode, strings.Join(r.Upstreams, " → "), r.Limits)
	}
	err := tw.Flush()
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
