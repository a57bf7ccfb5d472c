package server

import (
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// What a change touched (PhoneChanged.aspects, files_changed) is computed
// from the phone before and after it, field by field, so that no writer
// can forget to say it: consumers act only on the aspects they need, and
// the edge drops a phone's cached files only when files_changed (issue 20).

const (
	aspIdentity   = inventoryv1.PhoneAspect_PHONE_ASPECT_IDENTITY
	aspAssignment = inventoryv1.PhoneAspect_PHONE_ASPECT_ASSIGNMENT
	aspSettings   = inventoryv1.PhoneAspect_PHONE_ASPECT_SETTINGS
	aspSecrets    = inventoryv1.PhoneAspect_PHONE_ASPECT_SECRETS
	aspURL        = inventoryv1.PhoneAspect_PHONE_ASPECT_URL
	aspState      = inventoryv1.PhoneAspect_PHONE_ASPECT_STATE
	aspFetch      = inventoryv1.PhoneAspect_PHONE_ASPECT_FETCH
	aspDiscovery  = inventoryv1.PhoneAspect_PHONE_ASPECT_DISCOVERY
	aspRps        = inventoryv1.PhoneAspect_PHONE_ASPECT_RPS_STATUS
	aspRelease    = inventoryv1.PhoneAspect_PHONE_ASPECT_RELEASE
	aspExistence  = inventoryv1.PhoneAspect_PHONE_ASPECT_EXISTENCE
	// aspSeen marks the fields both a discovery and a fetch move (firmware,
	// last-seen time): they count as FETCH when the fetch record changed in
	// the same change, else as DISCOVERY.
	aspSeen = inventoryv1.PhoneAspect(-1)
	aspNone = inventoryv1.PhoneAspect_PHONE_ASPECT_UNSPECIFIED // bookkeeping
)

// phoneFieldAspects maps every field of Phone to the aspect a change of it
// touches. settings is split by settingsFieldAspects. A field missing here
// panics in phoneAspects (and fails TestPhoneAspectsCoverEveryField), so
// a new field must be classified before it ships.
var phoneFieldAspects = map[protoreflect.Name]inventoryv1.PhoneAspect{
	"name": aspExistence, "mac": aspExistence, "origin": aspExistence, "create_time": aspExistence,
	"vendor": aspIdentity, "model": aspIdentity, "model_status": aspIdentity, "model_family": aspIdentity, "model_warning": aspIdentity,
	"tenant": aspAssignment, "lines": aspAssignment,
	"state": aspState, "provisioned_time": aspState,
	"last_fetch": aspFetch, "recent_fetches": aspFetch,
	"firmware": aspSeen, "last_seen_time": aspSeen,
	"last_seen_address": aspDiscovery, "last_contact": aspDiscovery, "listener": aspDiscovery,
	"user_agent": aspDiscovery, "first_seen_time": aspDiscovery, "last_link_proof": aspDiscovery,
	"provisioning_url": aspURL,
	"rps_status":       aspRps,
	"secret_release":   aspRelease, "pending_release": aspRelease, "device_certificate_sha256": aspRelease,
	// Computed from the settings and the tenant when read, never stored.
	"effective_device_cert": aspSettings,
	"update_time":           aspNone, "revision": aspNone, "etag": aspNone,
}

// settingsFieldAspects maps every field of ProvisioningSettings: the SIP
// interface is what the phone registers to and save_to_rps whether the
// vendor's redirect service holds it (ASSIGNMENT: rps-client acts on it);
// https picks the URL's scheme (URL); passwords are SECRETS; the rest
// SETTINGS.
var settingsFieldAspects = map[protoreflect.Name]inventoryv1.PhoneAspect{
	"web_password": aspSecrets, "has_web_password": aspSecrets,
	"sip_interface": aspAssignment, "save_to_rps": aspAssignment,
	"https":    aspURL,
	"language": aspSettings, "time_zone": aspSettings, "transport": aspSettings,
	"codecs": aspSettings, "device_cert": aspSettings,
}

// filesAspects are the aspects that reach a phone's rendered files. The URL
// is among them: every vendor's template writes the provisioning URL (the
// token) into the file, so a rotated token changes the files. A fetch, a
// discovery, the state, the RPS status and the release binding never do.
var filesAspects = []inventoryv1.PhoneAspect{aspIdentity, aspAssignment, aspSettings, aspSecrets, aspURL, aspExistence}

// filesChanged reports whether a change of aspects may change the phone's
// rendered files.
func filesChanged(aspects []inventoryv1.PhoneAspect) bool {
	for _, a := range aspects {
		if slices.Contains(filesAspects, a) {
			return true
		}
	}
	return false
}

// phoneAspects returns, sorted and without repeats, the aspects in which
// after differs from before; nil stands for an absent phone (a creation or
// a deletion: EXISTENCE plus every aspect the present one holds).
func phoneAspects(before, after *phoneRec) []inventoryv1.PhoneAspect {
	set := map[inventoryv1.PhoneAspect]bool{}
	b, a := before, after
	if b == nil || a == nil {
		set[aspExistence] = true
	}
	if b == nil {
		b = &phoneRec{p: &inventoryv1.Phone{}}
	}
	if a == nil {
		a = &phoneRec{p: &inventoryv1.Phone{}}
	}
	diffFields(b.p.ProtoReflect(), a.p.ProtoReflect(), phoneFieldAspects, set)
	if b.token != a.token || b.bootstrapToken != a.bootstrapToken || b.prevToken != a.prevToken || b.prevExpire != a.prevExpire {
		set[aspURL] = true
	}
	if b.discoverySeen != a.discoverySeen {
		set[aspDiscovery] = true
	}
	if set[aspSeen] {
		delete(set, aspSeen)
		if !set[aspFetch] {
			set[aspDiscovery] = true
		}
	}
	delete(set, aspNone)
	out := make([]inventoryv1.PhoneAspect, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// diffFields adds to set the aspect of every field of the message type
// whose value differs between b and a (settings field by field).
func diffFields(b, a protoreflect.Message, table map[protoreflect.Name]inventoryv1.PhoneAspect, set map[inventoryv1.PhoneAspect]bool) {
	fields := b.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if b.Get(fd).Equal(a.Get(fd)) {
			continue
		}
		if fd.Message() != nil && fd.Message().Name() == "ProvisioningSettings" {
			diffFields(b.Get(fd).Message(), a.Get(fd).Message(), settingsFieldAspects, set)
			continue
		}
		asp, ok := table[fd.Name()]
		if !ok {
			panic("server: no aspect for field " + string(fd.FullName()))
		}
		set[asp] = true
	}
}

// mergeAspects returns the sorted union of two aspect lists.
func mergeAspects(a, b []inventoryv1.PhoneAspect) []inventoryv1.PhoneAspect {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// fanoutAspects are the aspects of a phone's profile that a change of ref
// (an extension, a SIP interface, a tenant) touched: records the phone
// only refers to, so its own record cannot show them. An extension is a
// line (number, name, SIP password); an interface is where it registers;
// a tenant's defaults hold settings, the web password and the default
// interface.
func fanoutAspects(ref, why string) []inventoryv1.PhoneAspect {
	k, _, _ := store.ParseRef(ref)
	switch {
	case k == store.KindExtension:
		return []inventoryv1.PhoneAspect{aspAssignment, aspSecrets}
	case k == store.KindInterface, why == whyDefaultInterface:
		return []inventoryv1.PhoneAspect{aspAssignment}
	}
	return []inventoryv1.PhoneAspect{aspAssignment, aspSettings, aspSecrets}
}
