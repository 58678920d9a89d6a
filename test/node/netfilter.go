package node

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// kubelet, kube-proxy, kube-router and the CNI plugins all add iptables
// chains and rules and ipsets, and none removes everything it added. So
// Prepare saves the rule sets and ipset names before the node exists, and
// Stop removes exactly what is new since: chains the snapshot didn't have,
// and rules in the built-in chains it didn't have. Rules the machine had
// stay untouched.

var iptablesFamilies = []string{"iptables", "ip6tables"}

// snapshotNetfilter saves what the machine has before the node starts.
func (n *Node) snapshotNetfilter() error {
	for _, fam := range iptablesFamilies {
		out, err := exec.Command(fam + "-save").Output()
		if err != nil {
			return fmt.Errorf("%s-save: %w", fam, err)
		}
		if err := os.WriteFile(filepath.Join(n.Dir, fam+".before"), out, 0o644); err != nil {
			return err
		}
	}
	out, err := exec.Command("ipset", "list", "-n").Output()
	if err != nil {
		return fmt.Errorf("ipset list: %w", err)
	}
	return os.WriteFile(filepath.Join(n.Dir, "ipsets.before"), out, 0o644)
}

// restoreNetfilter removes the chains, rules and ipsets added since the
// snapshot. Without a snapshot (the node never got that far) it does
// nothing.
func (n *Node) restoreNetfilter() error {
	var errs []string
	for _, fam := range iptablesFamilies {
		before, err := os.ReadFile(filepath.Join(n.Dir, fam+".before"))
		if err != nil {
			continue
		}
		now, err := exec.Command(fam + "-save").Output()
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s-save: %v", fam, err))
			continue
		}
		script := undoScript(string(before), string(now))
		if script == "" {
			continue
		}
		cmd := exec.Command(fam+"-restore", "--noflush")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("%s-restore: %v: %s\n%s", fam, err, out, script))
		}
	}
	if before, err := os.ReadFile(filepath.Join(n.Dir, "ipsets.before")); err == nil {
		now, _ := exec.Command("ipset", "list", "-n").Output()
		old := lineSet(string(before))
		for _, set := range strings.Fields(string(now)) {
			if !old[set] {
				_ = quiet(exec.Command("ipset", "destroy", set))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing the node's iptables rules: %s", strings.Join(errs, "; "))
	}
	return nil
}

// ruleset is one iptables-save dump: per table, its chains and its rules
// ("-A CHAIN ..." lines as saved).
type ruleset map[string]*table

type table struct {
	chains []string
	rules  []string
}

func parseRuleset(save string) ruleset {
	rs := ruleset{}
	var cur *table
	sc := bufio.NewScanner(strings.NewReader(save))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			cur = &table{}
			rs[line[1:]] = cur
		case cur == nil:
		case strings.HasPrefix(line, ":"):
			cur.chains = append(cur.chains, strings.Fields(line[1:])[0])
		case strings.HasPrefix(line, "-A "):
			cur.rules = append(cur.rules, line)
		}
	}
	return rs
}

// builtinChains are the chains iptables itself defines; they can't be
// deleted, only emptied of what was added to them.
var builtinChains = map[string]bool{"PREROUTING": true, "INPUT": true, "FORWARD": true, "OUTPUT": true, "POSTROUTING": true}

// undoScript is an iptables-restore --noflush script that takes the rule
// set now back to before: rules added to chains that existed before are
// deleted, then chains added since are flushed and deleted. It is empty if
// nothing was added.
func undoScript(before, now string) string {
	old, cur := parseRuleset(before), parseRuleset(now)
	var b bytes.Buffer
	for _, name := range []string{"raw", "mangle", "nat", "filter", "security"} {
		t := cur[name]
		if t == nil {
			continue
		}
		prev := old[name]
		if prev == nil {
			prev = &table{}
		}
		oldChains, oldRules := lineSet(strings.Join(prev.chains, "\n")), lineSet(strings.Join(prev.rules, "\n"))
		var lines []string
		for _, r := range t.rules {
			chain := strings.Fields(r)[1]
			if (oldChains[chain] || builtinChains[chain]) && !oldRules[r] {
				lines = append(lines, "-D"+strings.TrimPrefix(r, "-A"))
			}
		}
		var added []string
		for _, c := range t.chains {
			if !oldChains[c] && !builtinChains[c] {
				added = append(added, c)
			}
		}
		for _, c := range added {
			lines = append(lines, "-F "+c)
		}
		for _, c := range added {
			lines = append(lines, "-X "+c)
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(&b, "*%s\n%s\nCOMMIT\n", name, strings.Join(lines, "\n"))
	}
	return b.String()
}

func lineSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			set[l] = true
		}
	}
	return set
}
