package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
)

// apply carries out one action as one atomic update. A name that turns
// out to be taken comes back as a Conflict, not an error.
func (p *Provider) apply(ctx context.Context, space, zone string, a action) (*Conflict, error) {
	log := p.log.WithValues("space", space, "zone", trimDot(zone), "name", trimDot(a.Name))
	switch a.Kind {
	case actCreate:
		return p.create(ctx, space, zone, a, log)
	case actUpdate:
		err := p.client.update(ctx, p.replace(space, zone, a))
		if errors.Is(err, errPrerequisite) {
			return nil, fmt.Errorf("ownership of %s changed while updating it; it is read again on the next reconcile: %w", trimDot(a.Name), err)
		}
		if err == nil {
			typ, targets := a.Want.describe()
			log.Info("updated DNS record", "type", typ, "targets", targets, "ttl", a.Want.TTL)
		}
		return nil, err
	case actRemove:
		err := p.client.update(ctx, p.deletion(space, zone, a.Name))
		if errors.Is(err, errPrerequisite) {
			// Not ours any more: forget it, touch nothing else.
			log.Info("DNS name no longer carries this installation's ownership record; leaving it alone")
			return nil, p.client.update(ctx, p.unindex(space, zone, a.Name))
		}
		if err == nil {
			log.Info("removed DNS record")
		}
		return nil, err
	case actIndex:
		m := p.msg(zone)
		m.Insert([]dns.RR{p.indexRR(space, zone, a.Name)})
		return nil, p.client.update(ctx, m)
	case actUnindex:
		log.V(1).Info("dropping stale index entry")
		return nil, p.client.update(ctx, p.unindex(space, zone, a.Name))
	default: // actConflict
		if a.Unindex {
			if err := p.client.update(ctx, p.unindex(space, zone, a.Name)); err != nil {
				return nil, err
			}
		}
		log.Info("DNS name is taken; leaving it alone", "reason", a.Reason)
		return &Conflict{Name: trimDot(a.Name), Reason: a.Reason}, nil
	}
}

// create publishes a new name, provided neither it nor its marker holds
// anything: the server checks that atomically with the change.
func (p *Provider) create(ctx context.Context, space, zone string, a action, log logr.Logger) (*Conflict, error) {
	m := p.msg(zone)
	m.NameNotUsed([]dns.RR{anyRR(a.Name, dns.TypeANY), anyRR(ownerName(a.Name), dns.TypeANY)})
	m.Insert(append(a.Want.records(), p.markerRR(space, a.Name), p.indexRR(space, zone, a.Name)))
	err := p.client.update(ctx, m)
	if err == nil {
		typ, targets := a.Want.describe()
		log.Info("created DNS record", "type", typ, "targets", targets, "ttl", a.Want.TTL)
		return nil, nil
	}
	if !errors.Is(err, errPrerequisite) {
		return nil, err
	}
	reason := "already has records that decco did not create"
	if markers, rerr := p.client.txtValues(ctx, ownerName(a.Name)); rerr == nil {
		switch owner, holder := classify(markers, p.cfg.OwnerID, space); owner {
		case ours:
			// Our own earlier attempt got through (its reply was lost):
			// not a conflict; the next reconcile compares the data.
			return nil, nil
		case otherSpace, foreign:
			reason = holder
		}
	}
	if a.Unindex {
		if err := p.client.update(ctx, p.unindex(space, zone, a.Name)); err != nil {
			return nil, err
		}
	}
	log.Info("DNS name is taken; leaving it alone", "reason", reason)
	return &Conflict{Name: trimDot(a.Name), Reason: reason}, nil
}

// replace swaps the address records of a name we own for a.Want.
func (p *Provider) replace(space, zone string, a action) *dns.Msg {
	m := p.msg(zone)
	m.Used([]dns.RR{p.markerRR(space, a.Name)})
	m.RemoveRRset(addressRRsets(a.Name))
	m.Insert(append(a.Want.records(), p.indexRR(space, zone, a.Name)))
	return m
}

// deletion removes a name we own: records, marker and index entry.
func (p *Provider) deletion(space, zone, name string) *dns.Msg {
	m := p.msg(zone)
	m.Used([]dns.RR{p.markerRR(space, name)})
	m.RemoveRRset(append(addressRRsets(name), anyRR(ownerName(name), dns.TypeTXT)))
	m.Remove([]dns.RR{p.indexRR(space, zone, name)})
	return m
}

func (p *Provider) unindex(space, zone, name string) *dns.Msg {
	m := p.msg(zone)
	m.Remove([]dns.RR{p.indexRR(space, zone, name)})
	return m
}

func (p *Provider) msg(zone string) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(zone)
	return m
}

func (p *Provider) markerRR(space, name string) dns.RR {
	return txt(ownerName(name), uint32(p.cfg.TTL), marker{Owner: p.cfg.OwnerID, Space: space}.String())
}

func (p *Provider) indexRR(space, zone, name string) dns.RR {
	return txt(indexName(space, zone), uint32(p.cfg.TTL), marker{Owner: p.cfg.OwnerID, Space: space, Name: name}.String())
}

// addressRRsets names the RRsets decco may publish at name, for deletion.
func addressRRsets(name string) []dns.RR {
	return []dns.RR{anyRR(name, dns.TypeA), anyRR(name, dns.TypeAAAA), anyRR(name, dns.TypeCNAME)}
}

// anyRR is an RR without data, naming an RRset (or, with TypeANY, a name)
// in prerequisites and deletions.
func anyRR(name string, t uint16) dns.RR {
	return &dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassANY}}
}

func trimDot(name string) string { return strings.TrimSuffix(name, ".") }
