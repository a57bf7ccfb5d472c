package sealstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/boltstore"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/sealstore"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/storetest"
)

// BenchmarkGetPhone: reading a phone record with a token and a web
// password from bbolt, as stored (plain) and through sealstore (sealed):
// the difference is the cost of opening the sealed field.
func BenchmarkGetPhone(b *testing.B) {
	settings := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("web-password-1234"))
	phone := protowire.AppendTag(nil, 2, protowire.BytesType)
	phone = protowire.AppendString(phone, "001565aabbcc")
	phone = protowire.AppendTag(phone, 10, protowire.BytesType)
	phone = protowire.AppendBytes(phone, settings)
	v := protowire.AppendTag(nil, 1, protowire.BytesType)
	v = protowire.AppendBytes(v, phone)
	v = protowire.AppendTag(v, 2, protowire.BytesType)
	v = protowire.AppendString(v, "0123456789abcdef0123456789abcdef0123456789a")
	for _, mode := range []string{"plain", "sealed"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			bs, err := boltstore.Open(filepath.Join(b.TempDir(), "inventory.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer bs.Close()
			kek := ""
			if mode == "sealed" {
				kek = storetest.WriteKEKFile(b, sealstore.NewKEKLine())
			}
			s, err := sealstore.Open(ctx, bs, sealstore.Options{KEKFile: kek})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Apply(ctx, func(int64) (store.Batch, error) {
				return store.Batch{Ops: []store.Op{{Kind: store.KindPhone, ID: "001565aabbcc", Expect: store.ExpectAbsent, Value: v}}}, nil
			}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Get(ctx, store.KindPhone, "001565aabbcc"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
