package supervisor

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// stunnelLine matches stunnel's stderr format in foreground mode:
// "2026.01.02 15:04:05 LOG5[12]: message".
var stunnelLine = regexp.MustCompile(`^\S+ \S+ LOG([0-7])\[([^\]]*)\]: (.*)$`)

// probeSet remembers the source ports of our own readiness connections so
// their log lines (stunnel reports a probe that hangs up before the TLS
// handshake as an error) are demoted to debug instead of alarming readers
// every probe period.
type probeSet struct{ ports sync.Map }

func (p *probeSet) add(port int)    { p.ports.Store(port, struct{}{}) }
func (p *probeSet) remove(port int) { p.ports.Delete(port) }

// take reports whether port belonged to a probe and forgets it.
func (p *probeSet) take(port int) bool {
	_, ok := p.ports.LoadAndDelete(port)
	return ok
}

// logWriter turns stunnel's stderr into structured records with stable
// keys: component, service_id (stunnel's connection id) and msg.
type logWriter struct {
	log     *slog.Logger
	probes  *probeSet
	buf     []byte
	probed  map[string]bool // stunnel connection ids that are our probes
	pending map[string]int  // loopback connection id -> client port
}

func newLogWriter(log *slog.Logger, probes *probeSet) *logWriter {
	return &logWriter{log: log.With("component", "stunnel"), probes: probes,
		probed: map[string]bool{}, pending: map[string]int{}}
}

// Write is called by os/exec's copying goroutine only, so it needs no lock.
func (w *logWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a runaway line must not grow without bound
		w.line(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *logWriter) line(s string) {
	s = strings.TrimRight(s, "\r")
	m := stunnelLine.FindStringSubmatch(s)
	if m == nil {
		if strings.TrimSpace(s) != "" {
			w.log.Info(s)
		}
		return
	}
	prio, _ := strconv.Atoi(m[1])
	id, msg := m[2], m[3]
	level := syslogLevel(prio)
	if w.isProbe(id, msg) || msg == transparentCacheNoise {
		level = slog.LevelDebug
	}
	w.log.Log(context.Background(), level, msg, "stunnel_id", id)
}

// transparentCacheNoise is what stunnel 5.68 logs, as an error, for every
// connection of a "transparent = destination" client: it has no connect
// address whose TLS sessions it could cache. The connection goes on
// unharmed (a full handshake), so it is not an error to the reader.
const transparentCacheNoise = "INTERNAL ERROR: Uninitialized client session cache"

// isProbe tracks which stunnel connection ids belong to readiness probes.
// The probe registers its source port right after connecting, which can be
// after stunnel logged the accept, so the match is retried on later lines.
func (w *logWriter) isProbe(id, msg string) bool {
	const accepted = "accepted connection from 127.0.0.1:"
	if i := strings.Index(msg, accepted); i >= 0 && strings.HasPrefix(msg, "Service [") {
		if port, err := strconv.Atoi(msg[i+len(accepted):]); err == nil {
			w.pending[id] = port
		}
	}
	if port, ok := w.pending[id]; ok && w.probes != nil && w.probes.take(port) {
		w.probed[id] = true
		delete(w.pending, id)
	}
	probe := w.probed[id]
	if strings.HasPrefix(msg, "Connection closed") || strings.HasPrefix(msg, "Connection reset") {
		delete(w.probed, id)
		delete(w.pending, id)
	}
	return probe
}

func syslogLevel(prio int) slog.Level {
	switch {
	case prio <= 3: // emerg, alert, crit, err
		return slog.LevelError
	case prio == 4:
		return slog.LevelWarn
	case prio == 5:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}
