package server

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
)

type asp = inventoryv1.PhoneAspect

// TestPhoneAspectsCoverEveryField: every field of Phone and of
// ProvisioningSettings has an aspect, so a field added later cannot reach
// an event unclassified.
func TestPhoneAspectsCoverEveryField(t *testing.T) {
	for _, c := range []struct {
		md    protoreflect.MessageDescriptor
		table map[protoreflect.Name]asp
	}{
		{(&inventoryv1.Phone{}).ProtoReflect().Descriptor(), phoneFieldAspects},
		{(&inventoryv1.ProvisioningSettings{}).ProtoReflect().Descriptor(), settingsFieldAspects},
	} {
		fields := c.md.Fields()
		for i := range fields.Len() {
			name := fields.Get(i).Name()
			if _, ok := c.table[name]; !ok && !(c.md.Name() == "Phone" && name == "settings") {
				t.Errorf("%s.%s has no aspect", c.md.Name(), name)
			}
		}
		if want := fields.Len(); c.md.Name() == "ProvisioningSettings" && len(c.table) != want {
			t.Errorf("settings table has %d fields, message %d", len(c.table), want)
		}
	}
}

// TestPhoneAspects maps a change of each field of a phone (and of its
// secrets kept beside it) to the aspects its event names and to
// files_changed.
func TestPhoneAspects(t *testing.T) {
	ts := timestamppb.New(time.Unix(1700000000, 0))
	fetch := &inventoryv1.ConfigFetch{Time: ts, FileName: "a.cfg"}
	base := func() *phoneRec {
		return &phoneRec{token: "tok", configRev: 3, p: &inventoryv1.Phone{
			Name: "phones/805ec0000001", Mac: "805ec0000001", Vendor: "yealink", Model: "T54W", Firmware: "1",
			State: stAssigned, Tenant: "tenants/acme",
			Lines:    []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/100"}},
			Settings: &inventoryv1.ProvisioningSettings{Language: "de", SipInterface: "tenants/acme/sipInterfaces/pbx"},
		}}
	}
	cases := []struct {
		name  string
		edit  func(r *phoneRec)
		want  []asp
		files bool
	}{
		{"nothing", func(r *phoneRec) {}, nil, false},
		{"vendor", func(r *phoneRec) { r.p.Vendor = "fanvil" }, []asp{aspIdentity}, true},
		{"model", func(r *phoneRec) { r.p.Model = "T46U" }, []asp{aspIdentity}, true},
		{"model_status", func(r *phoneRec) { r.p.ModelStatus = rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN }, []asp{aspIdentity}, true},
		{"model_family", func(r *phoneRec) { r.p.ModelFamily = "T5x" }, []asp{aspIdentity}, true},
		{"model_warning", func(r *phoneRec) { r.p.ModelWarning = "w" }, []asp{aspIdentity}, true},
		{"tenant", func(r *phoneRec) { r.p.Tenant = "tenants/beta" }, []asp{aspAssignment}, true},
		{"lines", func(r *phoneRec) { r.p.Lines[0].Extension = "tenants/acme/extensions/101" }, []asp{aspAssignment}, true},
		{"settings.sip_interface", func(r *phoneRec) { r.p.Settings.SipInterface = "tenants/acme/sipInterfaces/b" }, []asp{aspAssignment}, true},
		{"settings.language", func(r *phoneRec) { r.p.Settings.Language = "fr" }, []asp{aspSettings}, true},
		{"settings.time_zone", func(r *phoneRec) { r.p.Settings.TimeZone = "Europe/Paris" }, []asp{aspSettings}, true},
		{"settings.transport", func(r *phoneRec) { r.p.Settings.Transport = provisioningv1.Transport_TRANSPORT_TLS }, []asp{aspSettings}, true},
		{"settings.codecs", func(r *phoneRec) { r.p.Settings.Codecs = []provisioningv1.Codec{provisioningv1.Codec_CODEC_G722} }, []asp{aspSettings}, true},
		{"settings.https", func(r *phoneRec) { r.p.Settings.Https = true }, []asp{aspURL}, true},
		{"settings.save_to_rps", func(r *phoneRec) { r.p.Settings.SaveToRps = true }, []asp{aspAssignment}, true},
		{"settings.device_cert", func(r *phoneRec) {
			r.p.Settings.DeviceCert = inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_REQUIRE
		}, []asp{aspSettings}, true},
		{"settings.web_password", func(r *phoneRec) { r.p.Settings.WebPassword = "pw" }, []asp{aspSecrets}, true},
		{"settings removed", func(r *phoneRec) { r.p.Settings = nil }, []asp{aspAssignment, aspSettings}, true},
		{"token", func(r *phoneRec) { r.token = "tok2" }, []asp{aspURL}, true},
		{"previous token", func(r *phoneRec) { r.prevToken, r.prevExpire = "tok", 5 }, []asp{aspURL}, true},
		{"bootstrap token", func(r *phoneRec) { r.bootstrapToken = true }, []asp{aspURL}, true},
		{"state", func(r *phoneRec) { r.p.State = stProvisioned; r.p.ProvisionedTime = ts }, []asp{aspState}, false},
		{"fetch", func(r *phoneRec) {
			r.p.LastFetch, r.p.RecentFetches, r.p.LastSeenTime, r.p.Firmware = fetch, []*inventoryv1.ConfigFetch{fetch}, ts, "2"
		}, []asp{aspFetch}, false},
		{"fetch and state", func(r *phoneRec) { r.p.LastFetch, r.p.State = fetch, stFetching }, []asp{aspState, aspFetch}, false},
		{"seen by discovery", func(r *phoneRec) {
			r.p.LastSeenTime, r.p.Firmware, r.p.LastContact, r.p.LastSeenAddress = ts, "2", "<sip:x>", "198.18.0.9:5060"
			r.p.Listener, r.p.UserAgent, r.p.FirstSeenTime, r.discoverySeen = "l", "ua", ts, 7
		}, []asp{aspDiscovery}, false},
		{"firmware alone", func(r *phoneRec) { r.p.Firmware = "2" }, []asp{aspDiscovery}, false},
		{"link proof", func(r *phoneRec) { r.p.LastLinkProof = &inventoryv1.LinkProof{Verified: true} }, []asp{aspDiscovery}, false},
		{"rps_status", func(r *phoneRec) { r.p.RpsStatus = &inventoryv1.PhoneRpsStatus{Message: "ok"} }, []asp{aspRps}, false},
		{"secret_release", func(r *phoneRec) { r.p.SecretRelease = &inventoryv1.ReleaseIdentity{Id: "x"} }, []asp{aspRelease}, false},
		{"pending_release", func(r *phoneRec) { r.p.PendingRelease = &inventoryv1.ReleaseIdentity{Id: "x"} }, []asp{aspRelease}, false},
		{"device_certificate_sha256", func(r *phoneRec) { r.p.DeviceCertificateSha256 = "ab" }, []asp{aspRelease}, false},
		{"bookkeeping", func(r *phoneRec) { r.p.UpdateTime, r.p.Revision, r.p.Etag, r.configRev = ts, 9, "9", 9 }, nil, false},
		{"origin", func(r *phoneRec) { r.p.Origin = inventoryv1.PhoneOrigin_PHONE_ORIGIN_MANUAL }, []asp{aspExistence}, true},
		{"create_time", func(r *phoneRec) { r.p.CreateTime = ts }, []asp{aspExistence}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := base()
			after := before.clone()
			c.edit(after)
			got := phoneAspects(before, after)
			if !slices.Equal(got, c.want) || filesChanged(got) != c.files {
				t.Errorf("aspects %v files_changed %v; want %v %v", got, filesChanged(got), c.want, c.files)
			}
		})
	}

	// A creation or deletion: EXISTENCE and every aspect the phone holds.
	want := []asp{aspIdentity, aspAssignment, aspSettings, aspURL, aspState, aspDiscovery, aspExistence}
	for name, got := range map[string][]asp{"created": phoneAspects(nil, base()), "deleted": phoneAspects(base(), nil)} {
		if !slices.Equal(got, want) || !filesChanged(got) {
			t.Errorf("%s: aspects %v; want %v", name, got, want)
		}
	}
	// The before/after records are only read.
	b := base()
	c := b.clone()
	phoneAspects(b, nil)
	if !proto.Equal(b.p, c.p) {
		t.Error("phoneAspects changed its argument")
	}
}

// TestFanoutAspects: a phone touched because a record it refers to
// changed names what that record feeds, and its files changed.
func TestFanoutAspects(t *testing.T) {
	for _, c := range []struct {
		ref, why string
		want     []asp
	}{
		{"e:acme/100", "extension changed", []asp{aspAssignment, aspSecrets}},
		{"i:acme/pbx", "SIP interface changed", []asp{aspAssignment}},
		{"t:acme", whyDefaultInterface, []asp{aspAssignment}},
		{"t:acme", "tenant settings changed", []asp{aspAssignment, aspSettings, aspSecrets}},
	} {
		got := fanoutAspects(c.ref, c.why)
		if !slices.Equal(got, c.want) || !filesChanged(got) {
			t.Errorf("%s (%s): %v, want %v", c.ref, c.why, got, c.want)
		}
	}
}
