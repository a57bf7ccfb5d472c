package sealstore

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// sealedField is the top-level field of a stored value that holds the
// sealed secrets (proto field range 100-109 is reserved for it in the
// messages stored as values).
const sealedField protowire.Number = 100

// secretPaths lists, per kind, where secrets sit in a stored value: field
// numbers from the top level down, each step a length-delimited field. Only
// append: the index of a path is its field number (+1) in the sealed bundle.
var secretPaths = map[store.Kind][][]protowire.Number{
	// Tenant.default_settings.web_password
	store.KindTenant: {{4, 1}},
	// Extension.sip_password
	store.KindExtension: {{5}},
	// phone record (server/records.go): 1 Phone → settings → web_password,
	// 2 token, 4 previous token
	store.KindPhone: {{1, 10, 1}, {2}, {4}},
}

// field is one top-level wire field of a value.
type field struct {
	num protowire.Number
	typ protowire.Type
	raw []byte // the whole field, tag included
	val []byte // the payload of a bytes field
}

// fields splits b into its top-level fields; ok is false when b is not
// protobuf wire format (then nothing in it is treated as a secret).
func fields(b []byte) ([]field, bool) {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, false
		}
		f := field{num: num, typ: typ, raw: b[:n+m]}
		if typ == protowire.BytesType {
			f.val, _ = protowire.ConsumeBytes(b[n:])
		}
		out = append(out, f)
		b = b[n+m:]
	}
	return out, true
}

// extract removes every value at path from b and returns what is left and
// the removed values. ok is false when b does not parse (b is returned
// unchanged then); a field on the path that does not parse as a message is
// kept as it is.
func extract(b []byte, path []protowire.Number) (rest []byte, vals [][]byte, ok bool) {
	fs, ok := fields(b)
	if !ok {
		return b, nil, false
	}
	for _, f := range fs {
		if f.num != path[0] || f.typ != protowire.BytesType {
			rest = append(rest, f.raw...)
			continue
		}
		if len(path) == 1 {
			vals = append(vals, f.val)
			continue
		}
		inner, v, ok := extract(f.val, path[1:])
		if !ok {
			// Not a message: it holds nothing on this path.
			rest = append(rest, f.raw...)
			continue
		}
		vals = append(vals, v...)
		rest = protowire.AppendTag(rest, f.num, protowire.BytesType)
		rest = protowire.AppendBytes(rest, inner)
	}
	return rest, vals, true
}

// insert adds val at path to b, inside the last message (a field that
// parses as one) already present on the path (a parser merges repeated message fields, but a hand-written
// decoder may not), or in a new one.
func insert(b []byte, path []protowire.Number, val []byte) []byte {
	if len(path) == 1 {
		b = protowire.AppendTag(b, path[0], protowire.BytesType)
		return protowire.AppendBytes(b, val)
	}
	fs, _ := fields(b)
	last := -1
	for i, f := range fs {
		if f.num == path[0] && f.typ == protowire.BytesType {
			if _, ok := fields(f.val); ok {
				last = i
			}
		}
	}
	if last < 0 {
		b = protowire.AppendTag(b, path[0], protowire.BytesType)
		return protowire.AppendBytes(b, insert(nil, path[1:], val))
	}
	var out []byte
	for i, f := range fs {
		if i != last {
			out = append(out, f.raw...)
			continue
		}
		out = protowire.AppendTag(out, f.num, protowire.BytesType)
		out = protowire.AppendBytes(out, insert(append([]byte(nil), f.val...), path[1:], val))
	}
	return out
}

// takeSealed removes the sealed field from b; blob is nil when there is none.
func takeSealed(b []byte) (rest, blob []byte) {
	fs, ok := fields(b)
	if !ok {
		return b, nil
	}
	for _, f := range fs {
		if f.num == sealedField && f.typ == protowire.BytesType {
			blob = f.val
			continue
		}
		rest = append(rest, f.raw...)
	}
	if blob == nil {
		return b, nil
	}
	return rest, blob
}

// hasSealed reports whether b carries a sealed field.
func hasSealed(b []byte) bool {
	_, blob := takeSealed(b)
	return blob != nil
}
