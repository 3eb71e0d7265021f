package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// LimitsStateConfig is where the gateway keeps each tenant's count of
// the day (messages_per_day) so that a restart does not reset it.
//
// The file is written atomically (a temporary file, fsync, rename, fsync
// of the directory) at most once a second while a count changes, and at
// Shutdown if the file would change; a gateway that never started (its
// Start failed, for example because another mailgate on the same
// configuration holds the listener's address) does not write it, so
// that it cannot put old counts over a running one's. After SIGTERM
// nothing is lost; after a crash (SIGKILL, power
// loss) the counts are those of the last write, so a tenant may send
// again at most what it had accepted in the second before the crash.
// Messages in flight at that write are counted, even if they were then
// refused. A missing or unreadable file starts with empty counts (and a
// log line); the gateway starts either way. Tenants no longer in the
// configuration, or without messages_per_day, are left out of the file.
// A reload keeps the running file: a new path needs a restart.
type LimitsStateConfig struct {
	// Path is the state file (default mailgate-limits.json beside the
	// configuration file, as the queue's SQLite file). Its directory
	// must be writable by the gateway; /var/lib/mailgate is a good home.
	Path string `yaml:"path"`
}

const (
	limitsStateVersion  = 1
	limitsStateDefault  = "mailgate-limits.json"
	limitsStateInterval = time.Second
)

// limitsStateFile is the JSON form of the state file.
type limitsStateFile struct {
	Version int                          `json:"version"`
	Tenants map[string]limitsStateTenant `json:"tenants"`
}

// limitsStateTenant is one tenant's count on Day, a UTC date
// ("2026-12-02"), the day of the quota's count.
type limitsStateTenant struct {
	Day   string `json:"day"`
	Count int    `json:"count"`
}

func compileLimitsState(cfg *Config, s *snapshot, el *errList) {
	p := cfg.LimitsState.Path
	if p == "" {
		p = limitsStateDefault
	}
	p = cfg.path(p)
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		el.add("limits_state.path", "%s is a directory; name a file", p)
	}
	if s.audit.Path != "" && s.audit.Path != "-" && cfg.path(s.audit.Path) == p {
		el.add("limits_state.path", "is the audit log's file")
	}
	if s.queue != nil && s.queue.cfg.Driver == "sqlite" && s.queue.path == p {
		el.add("limits_state.path", "is the queue's file")
	}
	s.limitsState = p
}

// limitsState keeps the day counts of g.rates in a file across restarts.
type limitsState struct {
	g    *Gateway
	path string

	mu      sync.Mutex // one write at a time
	written uint64     // rates.gen at the last good write
	last    []byte     // the file's bytes as read at open or last written; nil if unknown
	exists  bool       // the file exists (loaded or written)
	failing bool       // the last write failed (logged once)
	started bool       // start ran: the gateway served, and close may write
	// afterWrite, if set, runs after each good write (tests).
	afterWrite func()

	stop chan struct{}
	done chan struct{}
}

// openLimitsState reads path into g.rates: today's counts of the
// tenants of s that have a daily quota. A missing file is an empty one;
// an unreadable one is logged and ignored.
func openLimitsState(g *Gateway, s *snapshot) *limitsState {
	ls := &limitsState{g: g, path: s.limitsState}
	b, err := os.ReadFile(ls.path)
	if errors.Is(err, fs.ErrNotExist) {
		return ls
	}
	ls.exists = err == nil
	raw := b
	var st limitsStateFile
	days := map[string]int64{}
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err == nil && st.Version != limitsStateVersion {
		err = fmt.Errorf("version %d, want %d", st.Version, limitsStateVersion)
	}
	for name, e := range st.Tenants {
		if err != nil {
			break
		}
		d, perr := time.Parse(time.DateOnly, e.Day)
		switch {
		case perr != nil:
			err = fmt.Errorf("tenant %q: day %q is not a date", name, e.Day)
		case e.Count < 0:
			err = fmt.Errorf("tenant %q: count %d is negative", name, e.Count)
		}
		days[name] = utcDay(d)
	}
	if err != nil {
		g.log.Warn("limits state: file unreadable; starting with empty counts", "path", ls.path, "err", err)
		return ls
	}
	r := g.rates
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for name, e := range st.Tenants {
		if t := s.tenants[name]; t == nil || t.perDay <= 0 || e.Count == 0 {
			continue // dropped: gone from the configuration, or no quota
		}
		r.m[name] = &tenantRate{day: days[name], nDay: e.Count}
		n++
	}
	ls.written, ls.last = r.gen, raw
	g.log.Info("limits state: day counts loaded", "path", ls.path, "tenants", n)
	return ls
}

// start writes the file at most every limitsStateInterval while counts
// change, until stop.
func (ls *limitsState) start() {
	ls.started = true
	ls.stop, ls.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ls.done)
		tick := time.NewTicker(limitsStateInterval)
		defer tick.Stop()
		for {
			select {
			case <-ls.stop:
				return
			case <-tick.C:
				ls.flush(false)
			}
		}
	}()
}

// close stops the writer and writes the file a last time, if the
// gateway started and the file would change: a gateway that never
// started (a second mailgate on the same configuration that could not
// bind) must not put back the counts it read at New over those a
// running one wrote since.
func (ls *limitsState) close() {
	if !ls.started {
		return
	}
	if ls.stop != nil {
		close(ls.stop)
		<-ls.done
		ls.stop = nil
	}
	ls.flush(true)
}

// flush writes the file if a count has changed since the last write.
// At close it also writes what changed without a count (a tenant gone
// from the configuration, a past day's count dropped), unless the file
// would get the bytes it has. A configuration without any daily quota
// writes no file, unless one is there already (its counts are then
// dropped).
func (ls *limitsState) flush(atClose bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	g := ls.g
	s := g.snap.Load()
	quotas := false
	for _, t := range s.tenants {
		quotas = quotas || t.perDay > 0
	}
	if !quotas && !ls.exists {
		return
	}
	now := g.now()
	today := utcDay(now)
	st := limitsStateFile{Version: limitsStateVersion, Tenants: map[string]limitsStateTenant{}}
	r := g.rates
	r.mu.Lock()
	gen := r.gen
	if gen == ls.written && !atClose {
		r.mu.Unlock()
		return
	}
	for name, tr := range r.m {
		if t := s.tenants[name]; t == nil || t.perDay <= 0 || tr.day != today || tr.nDay == 0 {
			continue
		}
		st.Tenants[name] = limitsStateTenant{Day: time.Unix(tr.day*86400, 0).UTC().Format(time.DateOnly), Count: tr.nDay}
	}
	r.mu.Unlock()
	b, err := marshalLimitsState(&st)
	if err == nil && atClose && !ls.failing && bytes.Equal(b, ls.last) {
		return
	}
	if err == nil {
		err = writeFileAtomic(ls.path, b)
	}
	if err != nil {
		if !ls.failing {
			g.log.Error("limits state: cannot write the file; a restart would forget today's counts since the last write",
				"path", ls.path, "err", err)
		}
		ls.failing = true
		return
	}
	if ls.failing {
		g.log.Info("limits state: written again", "path", ls.path)
	}
	ls.failing, ls.exists, ls.written, ls.last = false, true, gen, b
	if ls.afterWrite != nil {
		ls.afterWrite()
	}
}

// marshalLimitsState writes st with its tenants in name order, one a
// line, so that the file reads well.
func marshalLimitsState(st *limitsStateFile) ([]byte, error) {
	names := make([]string, 0, len(st.Tenants))
	for n := range st.Tenants {
		names = append(names, n)
	}
	sort.Strings(names)
	b := fmt.Appendf(nil, "{\"version\": %d, \"tenants\": {", st.Version)
	for i, n := range names {
		kb, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(st.Tenants[n])
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n  "...)
		b = append(append(append(b, kb...), ": "...), vb...)
	}
	if len(names) > 0 {
		b = append(b, '\n')
	}
	return append(b, "}}\n"...), nil
}

// writeFileAtomic replaces path with data so that a crash leaves either
// the old file or the new one, whole: a temporary file in the same
// directory, fsync, rename over path, fsync of the directory.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
