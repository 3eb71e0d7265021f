// Command table measures the senders of issue 15 as separate processes,
// the way a user runs them: each run starts a fresh discarding sink
// (bench/cmd/sink) and one sender, which builds its messages and sends
// them all, and records the sender's wall time, its CPU time (user + system,
// from the process's rusage) and its heap allocations, with the sink's CPU
// beside them. The senders are the raw pipelining ceiling
// (bench/cmd/ceiling, 8 connections), examples/bulk with -pool 1, 4 and 8,
// and go-mail reusing 1 and 4 connections (bench/cmd/gomail). Runs are
// interleaved (one round runs every sender once) and the table shows the
// median of each column over the rounds:
//
//	go run ./bench/cmd/table -n 10000 -runs 5
//
// Under the table it gives the ratios of issue 15 (pool 8 against the
// ceiling and go-mail with 4 connections, pool 1 against go-mail with one):
// throughput is the median of the per-round ratios of wall times, which
// are steadier than the medians' ratio on a loaded machine, and CPU per
// message the median of the per-round ratios of CPU times.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sender is one row of the table.
type sender struct {
	name string
	prog string                     // binary, built from pkg
	args func(addr string) []string // flags besides -n
}

var packages = map[string]string{
	"sink":    "./bench/cmd/sink",
	"ceiling": "./bench/cmd/ceiling",
	"gomail":  "./bench/cmd/gomail",
	"bulk":    "./examples/bulk",
}

func senders() []sender {
	bulk := func(pool int) sender {
		return sender{fmt.Sprintf("examples/bulk -pool %d (ours)", pool), "bulk", func(addr string) []string {
			return []string{"-url", "smtp://" + addr + "?tls=none", "-pool", strconv.Itoa(pool), "-progress", "off", "-stats"}
		}}
	}
	gm := func(conns int) sender {
		name := fmt.Sprintf("go-mail, %d connections reused", conns)
		if conns == 1 {
			name = "go-mail, 1 connection reused"
		}
		return sender{name, "gomail", func(addr string) []string {
			return []string{"-addr", addr, "-conns", strconv.Itoa(conns)}
		}}
	}
	return []sender{
		{"raw pipelining, 8 connections (ceiling)", "ceiling", func(addr string) []string {
			return []string{"-addr", addr, "-conns", "8"}
		}},
		bulk(8), bulk(4), bulk(1), gm(4), gm(1),
	}
}

// result is one run of one sender.
type result struct {
	wall, cpu, sinkCPU time.Duration
	allocs             int64
}

func main() {
	n := flag.Int("n", 10000, "messages per run")
	runs := flag.Int("runs", 5, "rounds; each column is the median over them")
	only := flag.String("only", "", "run only the senders whose name contains this")
	flag.Parse()
	if err := run(*n, *runs, *only, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
}

func run(n, runs int, only string, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "mailer-table-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for name, pkg := range packages {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	var list []sender
	for _, s := range senders() {
		if strings.Contains(s.name, only) {
			list = append(list, s)
		}
	}
	results := make([][]result, len(list))
	for round := range runs {
		for i, s := range list {
			r, err := once(dir, s, n)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			fmt.Fprintf(stderr, "round %d %-42s wall %6.2fs  cpu %5.2fs  sink %5.2fs  %6.1f allocs/msg\n", round+1, s.name,
				r.wall.Seconds(), r.cpu.Seconds(), r.sinkCPU.Seconds(), float64(r.allocs)/float64(n))
			results[i] = append(results[i], r)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(stdout, "%d messages of about 2 KB a run, median of %d runs; %s, %d CPUs, load average %s\n\n",
		n, runs, runtime.Version(), runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Fprintln(stdout, "| sender | wall | msgs/s | CPU s | CPU/msg | allocs/msg | sink CPU s | throughput vs ceiling |")
	fmt.Fprintln(stdout, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var ceiling time.Duration
	rounds := map[string][]result{}
	for i, s := range list {
		rs := results[i]
		wall := median(rs, func(r result) time.Duration { return r.wall })
		cpu := median(rs, func(r result) time.Duration { return r.cpu })
		sink := median(rs, func(r result) time.Duration { return r.sinkCPU })
		allocs := median(rs, func(r result) time.Duration { return time.Duration(r.allocs) })
		if s.prog == "ceiling" {
			ceiling = wall
		}
		rounds[s.name] = rs
		ratio := "–"
		if ceiling > 0 {
			ratio = fmt.Sprintf("%.2f×", ceiling.Seconds()/wall.Seconds())
		}
		fmt.Fprintf(stdout, "| %s | %.2f s | %.0f | %.2f | %.0f µs | %.0f | %.2f | %s |\n", s.name,
			wall.Seconds(), float64(n)/wall.Seconds(), cpu.Seconds(), float64(cpu.Microseconds())/float64(n),
			float64(allocs)/float64(n), sink.Seconds(), ratio)
	}
	fmt.Fprintln(stdout)
	for _, c := range [][2]string{
		{"examples/bulk -pool 8 (ours)", "raw pipelining, 8 connections (ceiling)"},
		{"examples/bulk -pool 8 (ours)", "go-mail, 4 connections reused"},
		{"examples/bulk -pool 1 (ours)", "go-mail, 1 connection reused"},
	} {
		ours, base := rounds[c[0]], rounds[c[1]]
		if len(ours) == 0 || len(base) == 0 {
			continue
		}
		// Each round's pair ran one after the other, under about the
		// same load: the median of the per-round ratios is steadier than
		// the ratio of the medians.
		var speed, cpu []float64
		for r := range ours {
			speed = append(speed, base[r].wall.Seconds()/ours[r].wall.Seconds())
			cpu = append(cpu, ours[r].cpu.Seconds()/base[r].cpu.Seconds())
		}
		slices.Sort(speed)
		slices.Sort(cpu)
		fmt.Fprintf(stdout, "- %s against %s: %.2f× the throughput (rounds %.2f–%.2f), %.2f× the CPU per message\n",
			c[0], c[1], speed[len(speed)/2], speed[0], speed[len(speed)-1], cpu[len(cpu)/2])
	}
	return nil
}

func median(rs []result, f func(result) time.Duration) time.Duration {
	v := make([]time.Duration, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

var allocations = regexp.MustCompile(`allocations (\d+)`)

// once runs s against a fresh sink.
func once(dir string, s sender, n int) (result, error) {
	sink := exec.Command(filepath.Join(dir, "sink"))
	stdin, err := sink.StdinPipe()
	if err != nil {
		return result{}, err
	}
	out, err := sink.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := sink.Start(); err != nil {
		return result{}, err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = sink.Process.Kill()
		_ = sink.Wait()
		return result{}, fmt.Errorf("sink: %w", err)
	}
	addr = strings.TrimSpace(addr)

	var stderr strings.Builder
	cmd := exec.Command(filepath.Join(dir, s.prog), append(s.args(addr), "-n", strconv.Itoa(n))...)
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	_ = stdin.Close() // the sink stops
	serr := sink.Wait()
	if err != nil {
		return result{}, fmt.Errorf("%v: %s", err, stderr.String())
	}
	if serr != nil {
		return result{}, fmt.Errorf("sink: %w", serr)
	}
	m := allocations.FindStringSubmatch(stderr.String())
	if m == nil {
		return result{}, errors.New("no allocation count in: " + stderr.String())
	}
	allocs, _ := strconv.ParseInt(m[1], 10, 64)
	cpu := func(p *os.ProcessState) time.Duration { return p.UserTime() + p.SystemTime() }
	return result{wall: wall, cpu: cpu(cmd.ProcessState), sinkCPU: cpu(sink.ProcessState), allocs: allocs}, nil
}
