package server

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// phoneRec is a phone as stored: the Phone message (holding the web
// password, never the URL, revision or etag) plus the secrets and
// bookkeeping the API does not show.
type phoneRec struct {
	p *inventoryv1.Phone
	// token is the current provisioning token; bootstrapToken marks one
	// issued while unassigned, which assignment replaces.
	token          string
	bootstrapToken bool
	// prevToken keeps working until prevExpire (unix nanoseconds).
	prevToken  string
	prevExpire int64
	// configRev is the revision of the last change that altered what the
	// phone's profile is built from; fetches of older renderings do not
	// make the phone provisioned.
	configRev int64
	// discoverySeen is the observed time (unix nanoseconds) of the last
	// discovery applied. Discoveries are ordered by it, not by the phone's
	// last-seen time, which fetches move too: a fetch processed before an
	// earlier SUBSCRIBE's event must not make that event look stale (its
	// address and contact would be lost). 0 in records written before it.
	discoverySeen int64
	// rev is the stored revision (not encoded).
	rev int64
}

func (r *phoneRec) encode() ([]byte, error) {
	pb, err := proto.MarshalOptions{Deterministic: true}.Marshal(r.p)
	if err != nil {
		return nil, fmt.Errorf("encode phone: %w", err)
	}
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, pb)
	if r.token != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, r.token)
	}
	if r.bootstrapToken {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	if r.prevToken != "" {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, r.prevToken)
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.prevExpire))
	}
	if r.configRev != 0 {
		b = protowire.AppendTag(b, 6, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.configRev))
	}
	if r.discoverySeen != 0 {
		b = protowire.AppendTag(b, 7, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.discoverySeen))
	}
	return b, nil
}

func decodePhone(rec store.Record) (*phoneRec, error) {
	r := &phoneRec{p: &inventoryv1.Phone{}, rev: rec.Rev}
	b := rec.Value
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("decode phone %s: bad tag", rec.ID)
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("decode phone %s: bad field %d", rec.ID, num)
			}
			b = b[n:]
			switch num {
			case 1:
				if err := proto.Unmarshal(v, r.p); err != nil {
					return nil, fmt.Errorf("decode phone %s: %w", rec.ID, err)
				}
			case 2:
				r.token = string(v)
			case 4:
				r.prevToken = string(v)
			}
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("decode phone %s: bad field %d", rec.ID, num)
			}
			b = b[n:]
			switch num {
			case 3:
				r.bootstrapToken = v != 0
			case 5:
				r.prevExpire = int64(v)
			case 6:
				r.configRev = int64(v)
			case 7:
				r.discoverySeen = int64(v)
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("decode phone %s: bad field %d", rec.ID, num)
			}
			b = b[n:]
		}
	}
	return r, nil
}

// lastDiscovery is when the last discovery applied was observed (zero if
// none). A record older than discoverySeen that holds a discovery (a
// contact) had its last-seen time set by discoveries only. A phone never
// discovered (added by MAC) has none, though a fetch may have set its
// last-seen time: its first discovery must not look stale (a boot storm of
// pre-assigned phones lost the discoveries processed after their fetches).
func (r *phoneRec) lastDiscovery() time.Time {
	if r.discoverySeen != 0 {
		return time.Unix(0, r.discoverySeen)
	}
	if ls := r.p.GetLastSeenTime(); ls != nil && r.p.GetLastContact() != "" {
		return ls.AsTime()
	}
	return time.Time{}
}

// clone returns a deep copy, so a failed or retried write leaves the
// original untouched.
func (r *phoneRec) clone() *phoneRec {
	c := *r
	c.p = proto.Clone(r.p).(*inventoryv1.Phone)
	return &c
}

// tokenKey is the unique index key of a token: base64url of the first 128
// bits of SHA-256(token). 128 bits keep collisions out of reach and the
// index small; a lookup still compares the whole token.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// op returns the store operation writing r.
func (r *phoneRec) op(expect int64, now time.Time) (store.Op, error) {
	v, err := r.encode()
	if err != nil {
		return store.Op{}, err
	}
	op := store.Op{Kind: store.KindPhone, ID: r.p.GetMac(), Expect: expect, Value: v}
	op.Terms = append(op.Terms, "s="+strconv.Itoa(int(r.p.GetState())))
	if r.p.GetVendor() != "" {
		op.Terms = append(op.Terms, "v="+r.p.GetVendor())
	}
	if t := tenantID(r.p.GetTenant()); t != "" {
		op.Terms = append(op.Terms, "t="+t)
		op.Refs = append(op.Refs, store.Ref(store.KindTenant, t))
	}
	if r.token != "" {
		op.Keys = append(op.Keys, tokenKey(r.token))
	}
	if r.prevToken != "" && r.prevExpire > now.UnixNano() {
		op.Keys = append(op.Keys, tokenKey(r.prevToken))
	}
	seen := map[string]bool{}
	for _, l := range r.p.GetLines() {
		if t, n, ok := parseExtensionName(l.GetExtension()); ok {
			ref := store.Ref(store.KindExtension, t+"/"+n)
			if !seen[ref] {
				seen[ref] = true
				op.Refs = append(op.Refs, ref)
			}
		}
	}
	if t, i, ok := parseInterfaceName(r.p.GetSettings().GetSipInterface()); ok {
		op.Refs = append(op.Refs, store.Ref(store.KindInterface, t+"/"+i))
	}
	return op, nil
}

// ---------------------------------------------------------------- names

func tenantName(id string) string { return "tenants/" + id }

// tenantID returns the id of "tenants/{id}", or "" if name is not one.
func tenantID(name string) string {
	id, ok := strings.CutPrefix(name, "tenants/")
	if !ok || !validID(id) {
		return ""
	}
	return id
}

func parseChild(name, collection string, valid func(string) bool) (tenant, id string, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "tenants" || parts[2] != collection || !validID(parts[1]) || !valid(parts[3]) {
		return "", "", false
	}
	return parts[1], parts[3], true
}

func parseExtensionName(name string) (tenant, number string, ok bool) {
	return parseChild(name, "extensions", validNumber)
}

func parseInterfaceName(name string) (tenant, id string, ok bool) {
	return parseChild(name, "sipInterfaces", validID)
}

func extensionName(tenant, number string) string {
	return "tenants/" + tenant + "/extensions/" + number
}

func interfaceName(tenant, id string) string {
	return "tenants/" + tenant + "/sipInterfaces/" + id
}

func phoneName(mac string) string { return "phones/" + mac }

func etagOf(rev int64) string { return strconv.FormatInt(rev, 10) }
