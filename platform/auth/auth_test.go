package auth

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/dialtone-voip/dialtone/platform/testenv"
)

const (
	edgeToken = "edge-token-0123456789abcdef"
	devToken  = "dev-plaintext-token"
)

func tokensJSON() string {
	return fmt.Sprintf(`{"tokens": [
		{"name": "edge-1", "role": "edge", "sha256": %q},
		{"name": "acme-ro", "role": "readonly", "tenant": "acme", "sha256": %q},
		{"name": "dev", "role": "admin", "token": %q}
	]}`, HashToken(edgeToken), strings.ToUpper(HashToken("ro-token")), devToken)
}

func TestTokenSetAuthenticate(t *testing.T) {
	s, err := ParseTokens([]byte(tokensJSON()))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || !s.HasPlaintext() {
		t.Errorf("Len = %d, HasPlaintext = %v", s.Len(), s.HasPlaintext())
	}
	for token, want := range map[string]Principal{
		edgeToken:  {Name: "edge-1", Role: RoleEdge},
		"ro-token": {Name: "acme-ro", Role: RoleReadOnly, Tenant: "acme"},
		devToken:   {Name: "dev", Role: RoleAdmin},
	} {
		p, ok := s.Authenticate(token)
		if !ok || p != want {
			t.Errorf("Authenticate(%s) = %+v, %v; want %+v", token[:4], p, ok, want)
		}
	}
	for _, bad := range []string{"", "nope", edgeToken + "x", HashToken(edgeToken)} {
		if p, ok := s.Authenticate(bad); ok {
			t.Errorf("Authenticate(%q) accepted as %+v", bad, p)
		}
	}
}

func TestParseTokensErrors(t *testing.T) {
	secret := "tok-" + strings.Repeat("z", 20)
	for name, doc := range map[string]string{
		"syntax":     `{"tokens": [`,
		"unknown":    `{"tokens": [{"name": "a", "role": "admin", "token": "` + secret + `", "x": 1}]}`,
		"no name":    `{"tokens": [{"role": "admin", "token": "` + secret + `"}]}`,
		"bad role":   `{"tokens": [{"name": "a", "role": "root", "token": "` + secret + `"}]}`,
		"both":       `{"tokens": [{"name": "a", "role": "admin", "token": "` + secret + `", "sha256": "` + HashToken(secret) + `"}]}`,
		"neither":    `{"tokens": [{"name": "a", "role": "admin"}]}`,
		"short hash": `{"tokens": [{"name": "a", "role": "admin", "sha256": "abcd"}]}`,
		"dup name":   `{"tokens": [{"name": "a", "role": "admin", "token": "` + secret + `"}, {"name": "a", "role": "edge", "token": "other"}]}`,
		"dup token":  `{"tokens": [{"name": "a", "role": "admin", "token": "` + secret + `"}, {"name": "b", "role": "edge", "sha256": "` + HashToken(secret) + `"}]}`,
	} {
		_, err := ParseTokens([]byte(doc))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error quotes the token: %v", name, err)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestLoadReloadWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	writeFile(t, path, tokensJSON())
	s, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Authenticate(edgeToken); !ok {
		t.Fatal("edge token rejected")
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, 10*time.Millisecond, nil) }()

	// A broken file keeps the old tokens.
	writeFile(t, path, `{"tokens": [`)
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if _, ok := s.Authenticate(edgeToken); !ok {
		t.Fatal("broken reload dropped the tokens")
	}

	// A new file is picked up by Watch.
	newTok, err := GenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, fmt.Sprintf(`{"tokens": [{"name": "new", "role": "service", "sha256": %q}]}`, HashToken(newTok)))
	testenv.WaitFor(t, 10*time.Second, "Watch to reload the tokens file", func() bool {
		_, ok := s.Authenticate(newTok)
		return ok
	})
	if _, ok := s.Authenticate(edgeToken); ok {
		t.Error("removed token still accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch = %v", err)
	}
}

func TestGenerateToken(t *testing.T) {
	a, err := GenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateToken()
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 || a == b {
		t.Errorf("GenerateToken = %q (%d bytes, err %v), second %q", a, len(raw), err, b)
	}
}

func incoming(kv ...string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(kv...))
}

func TestInterceptorUnary(t *testing.T) {
	s, err := ParseTokens([]byte(tokensJSON()))
	if err != nil {
		t.Fatal(err)
	}
	ic := Interceptor{Tokens: s, Exempt: DefaultExempt}
	unary := ic.Unary()
	handler := func(ctx context.Context, _ any) (any, error) {
		if err := Require(ctx, RoleAdmin, RoleEdge); err != nil {
			return nil, err
		}
		p, _ := FromContext(ctx)
		return p, nil
	}
	call := func(ctx context.Context, method string) (any, error) {
		return unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method}, handler)
	}
	const m = "/dialtone.inventory.v1.InventoryService/GetPhone"
	for _, tc := range []struct {
		name string
		ctx  context.Context
		code codes.Code
	}{
		{"missing", context.Background(), codes.Unauthenticated},
		{"wrong scheme", incoming("authorization", "Basic "+edgeToken), codes.Unauthenticated},
		{"invalid", incoming("authorization", "Bearer wrong-"+edgeToken), codes.Unauthenticated},
		{"twice", incoming("authorization", "Bearer "+edgeToken, "authorization", "Bearer "+edgeToken), codes.Unauthenticated},
		{"wrong role", incoming("authorization", "Bearer ro-token"), codes.PermissionDenied},
		{"ok", incoming("authorization", "bearer "+edgeToken), codes.OK},
	} {
		got, err := call(tc.ctx, m)
		if c := status.Code(err); c != tc.code {
			t.Errorf("%s: code %v (%v), want %v", tc.name, c, err, tc.code)
		}
		if err != nil && strings.Contains(err.Error(), edgeToken) {
			t.Errorf("%s: error echoes the token: %v", tc.name, err)
		}
		if tc.code == codes.OK && got.(Principal).Name != "edge-1" {
			t.Errorf("%s: principal %+v", tc.name, got)
		}
	}
	// Exempt methods pass without credentials and carry no principal.
	_, err = unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"},
		func(ctx context.Context, _ any) (any, error) {
			if _, ok := FromContext(ctx); ok {
				t.Error("exempt call got a principal")
			}
			return nil, nil
		})
	if err != nil {
		t.Errorf("exempt call: %v", err)
	}
}

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (f fakeStream) Context() context.Context { return f.ctx }

func TestInterceptorStream(t *testing.T) {
	s, _ := ParseTokens([]byte(tokensJSON()))
	stream := Interceptor{Tokens: s}.Stream()
	var got Principal
	h := func(_ any, ss grpc.ServerStream) error { got, _ = FromContext(ss.Context()); return nil }
	info := &grpc.StreamServerInfo{FullMethod: "/x.Y/Watch"}
	if err := stream(nil, fakeStream{ctx: context.Background()}, info, h); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v", err)
	}
	if err := stream(nil, fakeStream{ctx: incoming("authorization", "Bearer "+devToken)}, info, h); err != nil || got.Name != "dev" {
		t.Errorf("dev token: %v, %+v", err, got)
	}
}

func TestRequire(t *testing.T) {
	if status.Code(Require(context.Background(), RoleAdmin)) != codes.Unauthenticated {
		t.Error("no principal must be Unauthenticated")
	}
	ctx := NewContext(context.Background(), Principal{Name: "l", Role: RoleListener})
	if Require(ctx, RoleListener, RoleAdmin) != nil {
		t.Error("listener rejected")
	}
	if status.Code(Require(ctx, RoleAdmin)) != codes.PermissionDenied {
		t.Error("listener accepted as admin")
	}
	if r, err := ParseRole("edge"); err != nil || r != RoleEdge {
		t.Errorf("ParseRole = %v, %v", r, err)
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error("ParseRole(root) ok")
	}
}

func TestCertPrincipal(t *testing.T) {
	p, err := CertPrincipal(&x509.Certificate{Subject: pkix.Name{CommonName: "rps-client", OrganizationalUnit: []string{"dialtone", "service"}}})
	if err != nil || p != (Principal{Name: "rps-client", Role: RoleService}) {
		t.Errorf("CertPrincipal = %+v, %v", p, err)
	}
	if _, err := CertPrincipal(&x509.Certificate{Subject: pkix.Name{CommonName: "x"}}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no OU: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	c := BearerToken("abc", true)
	md, err := c.GetRequestMetadata(context.Background())
	if err != nil || md["authorization"] != "Bearer abc" || !c.RequireTransportSecurity() {
		t.Errorf("metadata %v, %v", md, err)
	}
	if strings.Contains(fmt.Sprint(c), "abc") {
		t.Error("token printed by fmt.Sprint")
	}
}

// FuzzParseTokens checks that the parser never panics and that every
// token of an accepted file authenticates as its own entry.
func FuzzParseTokens(f *testing.F) {
	f.Add([]byte(tokensJSON()))
	f.Add([]byte(`{"tokens": []}`))
	f.Add([]byte(`{"tokens": [{"name": "a", "role": "admin", "sha256": "zz"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseTokens(data)
		if err != nil {
			return
		}
		var file TokensFile
		if err := json.Unmarshal(data, &file); err != nil {
			t.Fatalf("accepted a file encoding/json rejects: %v", err)
		}
		if s.Len() != len(file.Tokens) {
			t.Fatalf("Len = %d, file has %d entries", s.Len(), len(file.Tokens))
		}
		for _, e := range file.Tokens {
			if e.Token == "" {
				continue
			}
			p, ok := s.Authenticate(e.Token)
			if !ok || p.Name != e.Name || p.Role != e.Role || p.Tenant != e.Tenant {
				t.Fatalf("token of %q authenticates as %+v, %v", e.Name, p, ok)
			}
		}
	})
}
