package ctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

var jsonOpts = protojson.MarshalOptions{UseProtoNames: true}

// printJSON writes one message, or a list of messages as a JSON array.
func printJSON[M proto.Message](w io.Writer, msgs ...M) error {
	return writeJSON(w, false, msgs...)
}

func printJSONList[M proto.Message](w io.Writer, msgs []M) error {
	return writeJSON(w, true, msgs...)
}

func writeJSON[M proto.Message](w io.Writer, list bool, msgs ...M) error {
	raws := make([]json.RawMessage, 0, len(msgs))
	for _, m := range msgs {
		b, err := marshalCLI(m)
		if err != nil {
			return err
		}
		raws = append(raws, b)
	}
	var v any = raws
	if !list && len(raws) == 1 {
		v = raws[0]
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// printNDJSON writes one message on one line (watch).
func printNDJSON(w io.Writer, m proto.Message) error {
	b, err := marshalCLI(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// marshalCLI is protojson (proto field names, RFC 3339 times) with every
// enum value in the word the flags take: "provisioned", "g722", "tls",
// never PHONE_STATE_PROVISIONED. Fields keep protojson's order. The result
// is compact JSON.
func marshalCLI(m proto.Message) (json.RawMessage, error) {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	out, err := json.Marshal(enumWords(m.ProtoReflect().Descriptor(), v))
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	return out, nil
}

// object is a JSON object that keeps its members' order.
type object []member

type member struct {
	key string
	val any
}

func (o object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.val)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// decodeOrdered reads one JSON value: objects as object, arrays as []any,
// numbers as json.Number.
func decodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '{':
		o := object{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			o = append(o, member{key: k.(string), val: v})
		}
		_, err = dec.Token() // '}'
		return o, err
	case '[':
		a := []any{}
		for dec.More() {
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err = dec.Token() // ']'
		return a, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// enumWords rewrites the enum values of v, the JSON of a message md.
func enumWords(md protoreflect.MessageDescriptor, v any) any {
	o, ok := v.(object)
	if !ok || strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return v // well-known types have their own JSON form
	}
	for i, m := range o {
		fd := md.Fields().ByName(protoreflect.Name(m.key))
		if fd == nil {
			fd = md.Fields().ByJSONName(m.key)
		}
		if fd == nil {
			continue
		}
		if fd.IsMap() {
			fd = fd.MapValue()
			if mo, ok := m.val.(object); ok {
				for j := range mo {
					mo[j].val = fieldWords(fd, mo[j].val)
				}
			}
			continue
		}
		if a, ok := m.val.([]any); ok && fd.IsList() {
			for j := range a {
				a[j] = fieldWords(fd, a[j])
			}
			continue
		}
		o[i].val = fieldWords(fd, m.val)
	}
	return o
}

func fieldWords(fd protoreflect.FieldDescriptor, v any) any {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		if s, ok := v.(string); ok {
			return enumWord(fd.Enum(), s)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return enumWords(fd.Message(), v)
	}
	return v
}

// enumWord is the CLI's word for an enum value: the vocab name of codecs
// and transports, else the value name without its enum's prefix, in lower
// case (PHONE_STATE_PROVISIONED is "provisioned").
func enumWord(ed protoreflect.EnumDescriptor, name string) string {
	vd := ed.Values().ByName(protoreflect.Name(name))
	if vd == nil {
		return name
	}
	switch ed.FullName() {
	case "dialtone.provisioning.v1.Codec":
		if w := vocab.CodecName(provisioningv1.Codec(vd.Number())); w != "" {
			return w
		}
	case "dialtone.provisioning.v1.Transport":
		if w := vocab.TransportName(provisioningv1.Transport(vd.Number())); w != "" {
			return w
		}
	}
	return strings.ToLower(strings.TrimPrefix(name, upperSnake(string(ed.Name()))+"_"))
}

// upperSnake turns an enum's Go-style name into its value prefix:
// PhoneChangeType is PHONE_CHANGE_TYPE.
func upperSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 2, 8, 2, ' ', 0) }

// redact drops what must not be printed: the provisioning URL embeds the
// phone's token (passwords are never returned by the API at all).
func redact(p *inventoryv1.Phone) *inventoryv1.Phone {
	if p == nil {
		return nil
	}
	if p.GetProvisioningUrl() == "" {
		return p
	}
	c := proto.Clone(p).(*inventoryv1.Phone)
	c.ProvisioningUrl = ""
	return c
}

func stateName(s inventoryv1.PhoneState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "PHONE_STATE_"))
}

func changeName(c inventoryv1.PhoneChangeType) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "PHONE_CHANGE_TYPE_"))
}

func originName(o inventoryv1.PhoneOrigin) string {
	return strings.ToLower(strings.TrimPrefix(o.String(), "PHONE_ORIGIN_"))
}

// lastSegment returns the id at the end of a resource name.
func lastSegment(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func lineList(p *inventoryv1.Phone) string {
	var out []string
	for _, l := range p.GetLines() {
		out = append(out, lastSegment(l.GetExtension()))
	}
	return strings.Join(out, ",")
}

func displayMAC(mac string) string {
	if c, err := macaddr.Parse(mac); err == nil {
		return macaddr.Colon(c)
	}
	return mac
}

func tableTS(t *timestamppb.Timestamp) string {
	if t == nil || !t.IsValid() || (t.GetSeconds() == 0 && t.GetNanos() == 0) {
		return "-"
	}
	return t.AsTime().Local().Format(tableTime)
}

// tableTime is how tables print times: local, with the zone ("2026-12-07
// 13:05:09 CET"), so that a reader never guesses. JSON has RFC 3339.
const tableTime = time.DateTime + " MST"

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func codecNames(s *inventoryv1.ProvisioningSettings) string {
	var out []string
	for _, c := range s.GetCodecs() {
		out = append(out, vocab.CodecName(c))
	}
	return strings.Join(out, ",")
}
