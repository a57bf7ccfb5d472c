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
	"google.golang.org/protobuf/types/known/timestamppb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
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
		b, err := jsonOpts.Marshal(m)
		if err != nil {
			return fmt.Errorf("json: %w", err)
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
	b, err := protojson.MarshalOptions{UseProtoNames: true, Multiline: false}.Marshal(m)
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	// protojson may add spaces for stability; compact it to one line.
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
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

func ts(t *timestamppb.Timestamp) string {
	if t == nil || !t.IsValid() || (t.GetSeconds() == 0 && t.GetNanos() == 0) {
		return "-"
	}
	return t.AsTime().Local().Format(time.DateTime)
}

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
