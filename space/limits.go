package space

import (
	"fmt"
	"strconv"
	"strings"
)

// AnnotationLimits overrides, for one space, the installation's limits on
// what the space may publish: "services=N,hostnames=N,dns-records=N", any
// subset. It is the platform's to set, like every namespace key.
const AnnotationLimits = Prefix + "limits"

// Limits bound what one space may make decco write into shared places (the
// gateway, the DNS zone). Zero means no limit.
type Limits struct {
	// Services is how many Services labeled with the space may be exposed.
	Services int
	// Hostnames is how many hostnames the space may hold.
	Hostnames int
	// DNSRecords is how many DNS records the space may publish.
	DNSRecords int
}

// Over returns the first of these limits that held are over, as a
// sentence naming what and by how much, or "".
func (l Limits) Over(services, hostnames, records int) string {
	for _, c := range []struct {
		what     string
		have, at int
	}{
		{"Services labeled " + LabelSpace, services, l.Services},
		{"hostnames", hostnames, l.Hostnames},
		{"DNS records", records, l.DNSRecords},
	} {
		if c.at > 0 && c.have > c.at {
			return fmt.Sprintf("the space has %d %s, over its limit of %d", c.have, c.what, c.at)
		}
	}
	return ""
}

// Or fills each limit l leaves at zero from def.
func (l Limits) Or(def Limits) Limits {
	if l.Services == 0 {
		l.Services = def.Services
	}
	if l.Hostnames == 0 {
		l.Hostnames = def.Hostnames
	}
	if l.DNSRecords == 0 {
		l.DNSRecords = def.DNSRecords
	}
	return l
}

// parseLimits reads decco.io/limits.
func parseLimits(errs *fieldErrs, ann map[string]string) Limits {
	v, ok := ann[AnnotationLimits]
	if !ok {
		return Limits{}
	}
	const fix = "write comma-separated name=number entries with names services, hostnames and dns-records, e.g. services=200,dns-records=400, or remove the annotation for the installation's limits"
	var l Limits
	for _, entry := range strings.Split(v, ",") {
		name, num, _ := strings.Cut(entry, "=")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || !isDigits(num) {
			errs.add(AnnotationLimits, v, fmt.Sprintf("entry %q is not name=number with a number of 1 or more", entry), fix)
			return Limits{}
		}
		switch name {
		case "services":
			l.Services = n
		case "hostnames":
			l.Hostnames = n
		case "dns-records":
			l.DNSRecords = n
		default:
			errs.add(AnnotationLimits, v, fmt.Sprintf("%q is not a limit decco knows", name), fix)
			return Limits{}
		}
	}
	return l
}
