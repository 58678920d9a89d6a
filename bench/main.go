// Command bench measures decco against its targets and its peers and
// writes the results as a Markdown report (make bench). Ratios are taken
// within one run, on one machine, with the compared runs interleaved.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
)

func main() {
	out := flag.String("out", "", "also write the report to this file")
	calls := flag.Int("handler-calls", 20000, "admissions per injector in the handler benchmark")
	only := flag.String("only", "", "comma-separated sections to run (handler, https, apiserver, reconciler); empty runs all")
	rate := flag.Int("rate", 500, "requests per second in the HTTPS benchmark")
	duration := flag.Duration("duration", 20*time.Second, "length of the HTTPS benchmark")
	pods := flag.Int("pods", 1000, "pods per namespace in the apiserver benchmark")
	window := flag.Duration("cost-window", 15*time.Second, "how long the apiserver benchmark creates pods back to back in each namespace to measure CPU per create")
	sizes := flag.String("spaces", "100,1000,3000", "space counts for the reconciler benchmark")
	perSpace := flag.Int("services-per-space", 5, "Services per space in the reconciler benchmark")
	flag.StringVar(&profileDir, "profile", "", "directory for CPU profiles: the handlers' in the handler benchmark, the apiserver's per namespace in the apiserver benchmark, the manager's (and heap) in the reconciler benchmark")
	flag.IntVar(&projectSize, "project-size", 0, "spaces per project in the reconciler benchmark; 0 spreads them over 20 projects, whose members then grow with the run")
	flag.IntVar(&reconcilerWorkers, "reconciler-workers", reconcilerWorkers, "the manager's --reconciler-workers in the reconciler benchmark")
	flag.Parse()
	// The in-process manager's logs are not part of the report.
	ctrl.SetLogger(logr.Discard())
	var report bytes.Buffer
	w := io.MultiWriter(os.Stdout, &report)
	header(w)
	sections := []struct {
		name string
		run  func(io.Writer) error
	}{
		{"handler", func(w io.Writer) error { return handlerSection(w, *calls) }},
		{"https", func(w io.Writer) error { return httpsSection(w, *rate, *duration) }},
		{"apiserver", func(w io.Writer) error { return apiserverSection(w, *pods, *window) }},
		{"reconciler", func(w io.Writer) error { return reconcilerSection(w, parseSizes(*sizes), *perSpace) }},
	}
	failed := false
	for _, s := range sections {
		if *only != "" && !strings.Contains(","+*only+",", ","+s.name+",") {
			continue
		}
		if err := s.run(w); err != nil {
			// What was measured before the failure is still written.
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.name, err)
			failed = true
			break
		}
	}
	if *out != "" {
		if err := os.WriteFile(*out, report.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func parseSizes(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func header(w io.Writer) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "# decco benchmark run\n\n%s, %s, GOMAXPROCS=%d, %s/%s, %s, host %s\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.Version(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, cpuModel(), host)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

func handlerSection(w io.Writer, calls int) error {
	if profileDir != "" {
		// All three injectors run interleaved in this process: focus the
		// profile on one (go tool pprof -focus=webhook).
		f, err := os.Create(filepath.Join(profileDir, "handler-cpu.pprof"))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	results, err := benchHandlers(calls)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "## Webhook handler, 10 KB Pod (decode, inject, patch, encode), %d calls each, interleaved\n\n", calls)
	fmt.Fprintln(w, "| injector | p50 µs | p99 µs | decco is faster by (p50) |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	base := results[0].lat.p50()
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.1f× |\n", r.name, us(r.lat.p50()), us(r.lat.p99()), float64(r.lat.p50())/float64(base))
	}
	fmt.Fprintf(w, "\nTargets: p50 ≤ 150 µs, p99 ≤ 500 µs, ≥ 3× faster than the plain path and than Dapr.\n\n")
	return nil
}
