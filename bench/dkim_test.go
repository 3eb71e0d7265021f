package bench

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/postkit/mailer"
)

// BenchmarkDKIM measures what DKIM signing adds to a send, next to the
// unsigned send in the same run: a pooled send of a 2 KB message (one
// connection, messages one after the other) unsigned, signed with Ed25519
// and with RSA 2048; the signing alone; and a send of a 20 MiB attachment
// read from a file, unsigned and signed, with go-msgauth's streaming
// Signer fed the same message for reference. Run it as in the README:
//
//	go test -run '^$' -bench DKIM -benchmem ./bench
//
// Targets: Ed25519 adds at most 10% to the pooled 2 KB send; the 20 MiB
// message is signed with less than 2 MiB allocated.
func BenchmarkDKIM(b *testing.B) {
	keys := []struct{ name, file string }{{"ed25519", "ed25519.pem"}, {"rsa2048", "rsa2048-pkcs1.pem"}}
	b.Run("send-2KB/unsigned", func(b *testing.B) { benchSend2KB(b, nil) })
	for _, k := range keys {
		b.Run("send-2KB/"+k.name, func(b *testing.B) { benchSend2KB(b, mailer.WithDKIM(dkimConfig(b, k.file))) })
	}
	b.Run("send-2KB/paired", func(b *testing.B) { benchSendPaired(b, dkimConfig(b, "ed25519.pem")) })
	for _, k := range keys {
		b.Run("sign-2KB/"+k.name, func(b *testing.B) {
			s, err := mailer.NewDKIMSigner(dkimConfig(b, k.file))
			if err != nil {
				b.Fatal(err)
			}
			raw := rendered(b, 1)[0]
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			cpu := cpuTime()
			for b.Loop() {
				if _, err := s.Signature(raw); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}

	// The floor: the Ed25519 operation alone, over a SHA-256 digest as
	// RFC 8463 signs, which no signer of this key type can avoid.
	b.Run("sign-2KB/ed25519.Sign-alone", func(b *testing.B) {
		key := dkimConfig(b, "ed25519.pem").Key.(ed25519.PrivateKey)
		digest := sha256.Sum256(rendered(b, 1)[0])
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			_ = ed25519.Sign(key, digest[:])
		}
		reportCPU(b, cpu)
	})

	path := bigFile(b)
	big, err := mailer.NewMessage().From("Example <" + sender + ">").To("bob@example.com").
		Subject("Report").Text("Attached.").AttachFile(path).Date(date).Build()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("send-20MiB/unsigned", func(b *testing.B) { benchSendBig(b, big, nil) })
	b.Run("send-20MiB/ed25519", func(b *testing.B) { benchSendBig(b, big, mailer.WithDKIM(dkimConfig(b, "ed25519.pem"))) })
	b.Run("sign-20MiB/go-msgauth-ed25519", func(b *testing.B) {
		key := dkimConfig(b, "ed25519.pem").Key
		b.ReportAllocs()
		b.SetBytes(bigSize)
		for b.Loop() {
			s, err := dkim.NewSigner(&dkim.SignOptions{
				Domain: "example.com", Selector: "ed", Signer: key,
				HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := big.WriteTo(s); err != nil {
				b.Fatal(err)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// dkimConfig signs for example.com with a test key of the core's testdata.
func dkimConfig(b *testing.B, file string) mailer.DKIM {
	pemBytes, err := os.ReadFile("../testdata/dkim/" + file)
	if err != nil {
		b.Fatal(err)
	}
	key, err := mailer.ParseDKIMKey(pemBytes)
	if err != nil {
		b.Fatal(err)
	}
	return mailer.DKIM{Domain: "example.com", Selector: "bench", Key: key.(crypto.Signer)}
}

// benchSend2KB sends b.N personalised 2 KB messages one after the other
// over one pooled connection.
func benchSend2KB(b *testing.B, opt mailer.Option) {
	s := newSink(b)
	msgs := ourMsgs(b, b.N)
	c, err := mailer.New(mailer.WithServer(s.host(), s.port()), mailer.WithTLS(mailer.TLSNone), mailer.WithPool(1), opt)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(context.Background(), msgs[0]); err != nil { // connect before the clock
		b.Fatal(err)
	}
	cpu := cpuTime()
	run(b, func() {
		for _, m := range msgs {
			if _, err := c.Send(context.Background(), m); err != nil {
				b.Fatal(err)
			}
		}
	})
	reportCPU(b, cpu)
}

// benchSendPaired compares pooled sends of the same 2 KB messages under
// the same load: unsigned, signed with a stand-in Ed25519 key whose Sign
// returns 64 zero octets (everything of the signing but the Ed25519
// operation: rendering into the hash, canonicalization, the field), and
// signed with the real key. Three Clients, each on its own connection to
// its own sink, send alternate blocks of pairedBlock messages, and the CPU
// time (client and sink) and wall time of each block are added to its
// side. One op is one message of each. It reports each side's CPU per
// message and what signing adds in percent, with the real key (the figure
// of the target: at most 10 %) and without the Ed25519 operation; on a
// loaded machine this is steadier than separate runs.
func benchSendPaired(b *testing.B, key mailer.DKIM) {
	const pairedBlock = 50
	msgs := ourMsgs(b, b.N)
	null := key
	null.Key = nullEd25519{key.Key.Public().(ed25519.PublicKey)}
	var clients [3]*mailer.Client
	for i, o := range []mailer.Option{nil, mailer.WithDKIM(null), mailer.WithDKIM(key)} {
		s := newSink(b)
		c, err := mailer.New(mailer.WithServer(s.host(), s.port()), mailer.WithTLS(mailer.TLSNone), mailer.WithPool(1), o)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Send(context.Background(), msgs[0]); err != nil { // connect before the clock
			b.Fatal(err)
		}
		clients[i] = c
	}
	var cpu, wall [3]time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for at := 0; at < len(msgs); at += pairedBlock {
		block := msgs[at:min(at+pairedBlock, len(msgs))]
		for side, c := range clients {
			c0, w0 := cpuTime(), time.Now()
			for _, m := range block {
				if _, err := c.Send(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
			cpu[side] += cpuTime() - c0
			wall[side] += time.Since(w0)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(cpu[0].Microseconds())/n, "unsigned-cpu-µs/msg")
	b.ReportMetric(float64(cpu[1].Microseconds())/n, "null-key-cpu-µs/msg")
	b.ReportMetric(float64(cpu[2].Microseconds())/n, "ed25519-cpu-µs/msg")
	b.ReportMetric(100*(float64(cpu[2])/float64(cpu[0])-1), "ed25519-cpu-added-%")
	b.ReportMetric(100*(float64(cpu[1])/float64(cpu[0])-1), "null-key-cpu-added-%")
	b.ReportMetric(100*(float64(wall[2])/float64(wall[0])-1), "ed25519-time-added-%")
}

// nullEd25519 stands for an Ed25519 key whose signing costs nothing: the
// signatures it makes do not verify.
type nullEd25519 struct{ pub ed25519.PublicKey }

func (k nullEd25519) Public() crypto.PublicKey { return k.pub }
func (k nullEd25519) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return make([]byte, ed25519.SignatureSize), nil
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start (client and sink
// together): unlike ns/op, it does not grow when other processes hold the
// machine's cores.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// benchSendBig sends m, with its 20 MiB attachment, b.N times.
func benchSendBig(b *testing.B, m *mailer.Message, opt mailer.Option) {
	s := newSinkMax(b, 64<<20)
	c, err := mailer.New(mailer.WithServer(s.host(), s.port()), mailer.WithTLS(mailer.TLSNone), mailer.WithPool(1), opt)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.SetBytes(bigSize)
	cpu := cpuTime()
	for b.Loop() {
		if _, err := c.Send(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}
