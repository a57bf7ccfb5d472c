package inventory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory"
)

const edgeToken = "service-test-edge-token"

// sealedSvc is a service started with a KEK (or none), without NATS.
type sealedSvc struct {
	admin, edge inventoryv1.InventoryServiceClient
	stop        func()
}

func startKEK(t *testing.T, st inventory.Store, kekFile string) (*sealedSvc, error) {
	t.Helper()
	cfg := inventory.Config{EdgeHTTPBase: "http://prov.test:8080", Bootstrap: true, TokenGrace: time.Hour, KEKFile: kekFile}
	svc, err := inventory.New(cfg, inventory.Deps{Store: st})
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{
		{Name: "admin", Role: auth.RoleAdmin, SHA256: auth.HashToken(adminToken)},
		{Name: "edge", Role: auth.RoleEdge, SHA256: auth.HashToken(edgeToken)},
	}})
	tokens, err := auth.ParseTokens(data)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpcserver.New(grpcserver.Options{Auth: tokens, ShutdownTimeout: time.Second})
	svc.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(ctx) })
	wg.Go(func() { _ = gs.Serve(ctx, lis) })
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return &sealedSvc{admin: dial(t, lis.Addr().String(), adminToken), edge: dial(t, lis.Addr().String(), edgeToken), stop: stop}, nil
}

func mustStartKEK(t *testing.T, st inventory.Store, kekFile string) *sealedSvc {
	t.Helper()
	s, err := startKEK(t, st, kekFile)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeKEK(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	seedSIPPassword = "SeededSipPassw0rd-%03d"
	seedWebPassword = "SeededWebPassw0rd-acme"
)

// seedSecrets makes a tenant with a web password, n extensions with SIP
// passwords and n assigned phones; it returns each phone's token.
func seedSecrets(t *testing.T, a inventoryv1.InventoryServiceClient, n int) map[string]string {
	t.Helper()
	if _, err := a.CreateTenant(cctx(), &inventoryv1.CreateTenantRequest{TenantId: "acme",
		Tenant: &inventoryv1.Tenant{DefaultSettings: &inventoryv1.ProvisioningSettings{WebPassword: seedWebPassword}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateSipInterface(cctx(), &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/acme", SipInterfaceId: "pbx",
		SipInterface: &inventoryv1.SipInterface{Host: "pbx.example.com", UdpPort: 5060}}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for i := range n {
		if _, err := a.CreateExtension(cctx(), &inventoryv1.CreateExtensionRequest{Parent: "tenants/acme",
			Extension: &inventoryv1.Extension{Number: fmt.Sprint(100 + i), SipPassword: fmt.Sprintf(seedSIPPassword, i)}}); err != nil {
			t.Fatal(err)
		}
		mac := fmt.Sprintf("0015650a%04x", i)
		if _, err := a.CreatePhone(cctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: mac, Model: "T54W",
			Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: fmt.Sprintf("tenants/acme/extensions/%d", 100+i)}}}}); err != nil {
			t.Fatal(err)
		}
		u, err := a.GetProvisioningUrl(cctx(), &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac})
		if err != nil {
			t.Fatal(err)
		}
		tokens[mac] = strings.TrimSuffix(u.GetUrl()[strings.Index(u.GetUrl(), "/p/")+3:], "/")
	}
	return tokens
}

// profiles fetches every phone's profile as the edge does.
func profiles(t *testing.T, edge inventoryv1.InventoryServiceClient, tokens map[string]string) map[string]*inventoryv1.GetProvisioningProfileResponse {
	t.Helper()
	out := map[string]*inventoryv1.GetProvisioningProfileResponse{}
	for mac, tok := range tokens {
		p, err := edge.GetProvisioningProfile(cctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tok})
		if err != nil {
			t.Fatalf("profile of %s: %v", mac, err)
		}
		out[mac] = p
	}
	return out
}

func checkAccounts(t *testing.T, profs map[string]*inventoryv1.GetProvisioningProfileResponse) {
	t.Helper()
	for mac, p := range profs {
		b, _ := proto.Marshal(p)
		if !bytes.Contains(b, []byte("SeededSipPassw0rd-")) || !bytes.Contains(b, []byte(seedWebPassword)) {
			t.Fatalf("profile of %s lacks its SIP or web password", mac)
		}
	}
}

// grepSecrets fails when raw holds a seeded password or token.
func grepSecrets(t *testing.T, raw []byte, tokens map[string]string, n int) {
	t.Helper()
	if len(raw) == 0 {
		t.Fatal("empty dump")
	}
	needles := []string{seedWebPassword}
	for i := range n {
		needles = append(needles, fmt.Sprintf(seedSIPPassword, i))
	}
	for _, tok := range tokens {
		needles = append(needles, tok)
	}
	for _, s := range needles {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("the raw store holds a seeded secret (%d bytes of it)", len(s))
		}
	}
	if !bytes.Contains(raw, []byte("0015650a0000")) {
		t.Fatal("the dump does not hold the seeded phones: it proves nothing")
	}
}

type backend struct {
	name string
	// open returns a store over the same data each call, and a dump of it.
	open func(t *testing.T) (func() inventory.Store, func() []byte)
}

var backends = []backend{
	{"bolt", func(t *testing.T) (func() inventory.Store, func() []byte) {
		path := filepath.Join(t.TempDir(), "inventory.db")
		var cur inventory.Store
		return func() inventory.Store {
				if cur != nil {
					cur.Close()
				}
				st, err := inventory.OpenBoltStore(path)
				if err != nil {
					t.Fatal(err)
				}
				cur = st
				t.Cleanup(func() { st.Close() })
				return st
			}, func() []byte {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
	}},
	{"redis", func(t *testing.T) (func() inventory.Store, func() []byte) {
		srv := redistest.Start(t, redistest.Args("--rdbcompression", "no", "--dbfilename", "dump.rdb"))
		return func() inventory.Store { return inventory.NewRedisStore(srv.Client(), "") }, func() []byte {
			// What `redis-cli --rdb` would fetch: the server's snapshot.
			if err := srv.Client().Save(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(srv.DataDir(), "dump.rdb"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}},
}

// TestSecretsAtRest: with a KEK, a seeded store's raw bytes (the bbolt
// file, a Redis RDB) hold none of the seeded passwords or tokens while the
// edge still gets every account; without the KEK the phones are listed but
// no profile is served (Unavailable, never a profile without its account);
// another KEK is refused at start with one line.
func TestSecretsAtRest(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			open, dump := b.open(t)
			kek := writeKEK(t, "q8kFh1wYpJ4mW3lq0qg0vN3c9m2dX7P5a1tYkz8B6r4=")
			s := mustStartKEK(t, open(), kek)
			const n = 5
			tokens := seedSecrets(t, s.admin, n)
			checkAccounts(t, profiles(t, s.edge, tokens))
			grepSecrets(t, dump(), tokens, n)
			s.stop()

			// No KEK: listed, not served.
			l := mustStartKEK(t, open(), "")
			ph, err := l.admin.ListPhones(cctx(), &inventoryv1.ListPhonesRequest{})
			if err != nil || len(ph.GetPhones()) != n {
				t.Fatalf("locked ListPhones = %d, %v", len(ph.GetPhones()), err)
			}
			for _, tok := range tokens {
				_, err := l.edge.GetProvisioningProfile(cctx(), &inventoryv1.GetProvisioningProfileRequest{Token: tok})
				if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "secrets are sealed at rest") || !strings.Contains(err.Error(), "--kek-file") {
					t.Fatalf("locked profile: %v, want Unavailable naming --kek-file", err)
				}
			}
			l.stop()

			// Another KEK: refused at start, one line.
			_, err = startKEK(t, open(), writeKEK(t, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "wrong --kek-file") {
				t.Fatalf("start with another KEK: %v", err)
			}
		})
	}
}

// TestMigrateAndRotateUnderLoad: a store written without a KEK is sealed
// on the first start with one; RotateKeys with a new KEK (the old one on
// the file's second line) while extensions are being rewritten loses no
// write, and afterwards the old KEK can leave the file.
func TestMigrateAndRotateUnderLoad(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			open, dump := b.open(t)
			plain := mustStartKEK(t, open(), "")
			const n = 8
			tokens := seedSecrets(t, plain.admin, n)
			if !bytes.Contains(dump(), []byte(seedWebPassword)) {
				t.Fatal("without a KEK the store should hold plaintext: the test proves nothing")
			}
			plain.stop()

			oldKEK, newKEK := "q8kFh1wYpJ4mW3lq0qg0vN3c9m2dX7P5a1tYkz8B6r4=", "Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg="
			kekPath := writeKEK(t, oldKEK)
			s := mustStartKEK(t, open(), kekPath)
			before := profiles(t, s.edge, tokens)
			checkAccounts(t, before)
			grepSecrets(t, dump(), tokens, n)

			// Writers change display names (the SIP passwords stay) during the rotation.
			var (
				stop  atomic.Bool
				wg    sync.WaitGroup
				last  sync.Map // extension -> last acknowledged display name
				wrote atomic.Int64
			)
			for g := range 3 {
				// Each extension has one writer: with two, the order of their
				// acknowledgements need not be the order of their commits,
				// and "last acknowledged" would mean nothing.
				var mine []int
				for x := g; x < n; x += 3 {
					mine = append(mine, x)
				}
				wg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						name := fmt.Sprintf("tenants/acme/extensions/%d", 100+mine[i%len(mine)])
						dn := fmt.Sprintf("writer %d #%d", g, i)
						_, err := s.admin.UpdateExtension(cctx(), &inventoryv1.UpdateExtensionRequest{
							Extension: &inventoryv1.Extension{Name: name, DisplayName: dn}, UpdateMask: fieldMask("display_name")})
						if status.Code(err) == codes.Aborted {
							continue
						}
						if err != nil {
							t.Errorf("UpdateExtension: %v", err)
							return
						}
						last.Store(name, dn)
						wrote.Add(1)
					}
				})
			}
			waitFor(t, 10*time.Second, "writers running", func() bool { return wrote.Load() > 5 })
			if err := os.WriteFile(kekPath, []byte(newKEK+"\n"+oldKEK+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			res, err := s.admin.RotateKeys(cctx(), &inventoryv1.RotateKeysRequest{})
			stop.Store(true)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if res.GetRewrappedDataKeys() != 1 || res.GetDataKeyId() == "" {
				t.Fatalf("RotateKeys = %v", res)
			}
			last.Range(func(k, v any) bool {
				e, err := s.admin.GetExtension(cctx(), &inventoryv1.GetExtensionRequest{Name: k.(string)})
				if err != nil || e.GetExtension().GetDisplayName() != v.(string) || !e.GetExtension().GetHasSipPassword() {
					t.Fatalf("%s after rotation: %v %v, want %q with its password", k, e, err, v)
				}
				return true
			})
			checkAccounts(t, profiles(t, s.edge, tokens))
			s.stop()
			// The old KEK leaves the file; the store still opens.
			if err := os.WriteFile(kekPath, []byte(newKEK+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s2 := mustStartKEK(t, open(), kekPath)
			after := profiles(t, s2.edge, tokens)
			checkAccounts(t, after)
			grepSecrets(t, dump(), tokens, n)
		})
	}
}

// TestExportImportThroughAPI: ExportBackup from one store, ImportBackup
// into an empty one with the same KEK; every phone's profile is the same
// under the same token. A damaged file is refused and writes nothing.
func TestExportImportThroughAPI(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			kek := writeKEK(t, "q8kFh1wYpJ4mW3lq0qg0vN3c9m2dX7P5a1tYkz8B6r4=")
			openA, _ := b.open(t)
			a := mustStartKEK(t, openA(), kek)
			tokens := seedSecrets(t, a.admin, 6)
			before := profiles(t, a.edge, tokens)
			file := export(t, a.admin)
			grepSecrets(t, file, tokens, 6)

			openB, _ := b.open(t)
			bs := mustStartKEK(t, openB(), kek)
			// Damaged: refused, and the store stays empty.
			bad := bytes.Clone(file)
			bad[len(bad)-5] ^= 1
			if _, err := importFile(bs.admin, bad); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "checksum") {
				t.Fatalf("import of a damaged file: %v", err)
			}
			if _, err := importFile(bs.admin, file[:len(file)/2]); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("import of a truncated file: %v", err)
			}
			resp, err := importFile(bs.admin, file)
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetRecords()["phone"] != 6 {
				t.Fatalf("imported %v", resp.GetRecords())
			}
			after := profiles(t, bs.edge, tokens)
			for mac, p := range before {
				if !proto.Equal(p, after[mac]) {
					t.Fatalf("profile of %s differs after import:\n%v\n%v", mac, p, after[mac])
				}
			}
			if _, err := importFile(bs.admin, file); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("second import: %v, want FailedPrecondition (not empty)", err)
			}
		})
	}
}

func export(t *testing.T, a inventoryv1.InventoryServiceClient) []byte {
	t.Helper()
	st, err := a.ExportBackup(cctx(), &inventoryv1.ExportBackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for {
		ch, err := st.Recv()
		if err == io.EOF {
			return buf.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(ch.GetData())
	}
}

func importFile(a inventoryv1.InventoryServiceClient, file []byte) (*inventoryv1.ImportBackupResponse, error) {
	st, err := a.ImportBackup(cctx())
	if err != nil {
		return nil, err
	}
	for len(file) > 0 {
		m := min(len(file), 1000)
		if err := st.Send(&inventoryv1.ImportBackupRequest{Data: file[:m]}); err != nil {
			return nil, err
		}
		file = file[m:]
	}
	return st.CloseAndRecv()
}

func fieldMask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }
