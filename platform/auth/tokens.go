package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Authenticator maps a bearer token to a principal. *TokenSet implements
// it.
type Authenticator interface {
	Authenticate(token string) (Principal, bool)
}

// TokensFile is the JSON tokens file:
//
//	{"tokens": [
//	  {"name": "edge-1", "role": "edge", "sha256": "<64 hex digits>"},
//	  {"name": "acme-ro", "role": "readonly", "tenant": "acme", "sha256": "…"},
//	  {"name": "dev", "role": "admin", "token": "dev-only-plaintext"}
//	]}
//
// Each entry has either sha256 (HashToken of the token, the normal case) or
// token (plaintext, for development only).
type TokensFile struct {
	Tokens []TokenEntry `json:"tokens"`
}

// TokenEntry is one token of a TokensFile.
type TokenEntry struct {
	Name   string `json:"name"`
	Role   Role   `json:"role"`
	Tenant string `json:"tenant,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Token  string `json:"token,omitempty"`
}

// HashToken returns the lower-case hex SHA-256 of token, the form stored in
// the tokens file.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

type entry struct {
	hash [sha256.Size]byte
	p    Principal
}

// TokenSet is a set of tokens, safe for concurrent use. Build one with
// LoadTokens (from a file, reloadable) or ParseTokens.
type TokenSet struct {
	path string

	mu        sync.RWMutex
	entries   []entry
	plaintext bool
	modTime   time.Time
	size      int64
}

// ParseTokens parses a tokens file's contents. Errors name the offending
// entry by position and name, never by token.
func ParseTokens(data []byte) (*TokenSet, error) {
	s := &TokenSet{}
	if err := s.set(data); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadTokens reads the tokens file at path. Reload and Watch re-read it.
func LoadTokens(path string) (*TokenSet, error) {
	s := &TokenSet{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

func parse(data []byte) ([]entry, bool, error) {
	var f TokensFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		// encoding/json errors name fields and types, never string values.
		return nil, false, fmt.Errorf("auth: tokens file: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false, errors.New("auth: tokens file: data after the JSON object")
	}
	var (
		entries   []entry
		plaintext bool
		names     = map[string]bool{}
		hashes    = map[[sha256.Size]byte]string{}
	)
	for i, te := range f.Tokens {
		where := fmt.Sprintf("auth: tokens file: entry %d (%q)", i, te.Name)
		if te.Name == "" {
			return nil, false, fmt.Errorf("auth: tokens file: entry %d: missing name", i)
		}
		if names[te.Name] {
			return nil, false, fmt.Errorf("%s: duplicate name", where)
		}
		names[te.Name] = true
		if !te.Role.Valid() {
			return nil, false, fmt.Errorf("%s: unknown role %q", where, te.Role)
		}
		var e entry
		switch {
		case te.SHA256 != "" && te.Token != "":
			return nil, false, fmt.Errorf("%s: has both sha256 and token", where)
		case te.SHA256 != "":
			b, err := hex.DecodeString(te.SHA256)
			if err != nil || len(b) != sha256.Size {
				return nil, false, fmt.Errorf("%s: sha256 must be 64 hex digits", where)
			}
			copy(e.hash[:], b)
		case te.Token != "":
			e.hash = sha256.Sum256([]byte(te.Token))
			plaintext = true
		default:
			return nil, false, fmt.Errorf("%s: needs sha256 or token", where)
		}
		if other, dup := hashes[e.hash]; dup {
			return nil, false, fmt.Errorf("%s: same token as %q", where, other)
		}
		hashes[e.hash] = te.Name
		e.p = Principal{Name: te.Name, Role: te.Role, Tenant: te.Tenant}
		entries = append(entries, e)
	}
	return entries, plaintext, nil
}

func (s *TokenSet) set(data []byte) error {
	entries, plaintext, err := parse(data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.entries, s.plaintext = entries, plaintext
	s.mu.Unlock()
	return nil
}

// Authenticate returns the principal of token. It hashes the token and
// compares the hash with every entry in constant time, so the time taken
// does not depend on which entry (if any) matches.
func (s *TokenSet) Authenticate(token string) (Principal, bool) {
	if token == "" {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(token))
	s.mu.RLock()
	defer s.mu.RUnlock()
	var (
		found Principal
		ok    int
	)
	for _, e := range s.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			found, ok = e.p, 1
		}
	}
	return found, ok == 1
}

// Len returns the number of tokens.
func (s *TokenSet) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// HasPlaintext reports whether any entry stores its token in plaintext;
// processes should warn about it outside development.
func (s *TokenSet) HasPlaintext() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.plaintext
}

// Reload re-reads the file given to LoadTokens. On error the previous
// tokens stay in force.
func (s *TokenSet) Reload() error {
	if s.path == "" {
		return errors.New("auth: token set was not loaded from a file")
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("auth: tokens file: %w", err)
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("auth: tokens file: %w", err)
	}
	if err := s.set(data); err != nil {
		return fmt.Errorf("%w (file %s)", err, s.path)
	}
	s.mu.Lock()
	s.modTime, s.size = fi.ModTime(), fi.Size()
	s.mu.Unlock()
	return nil
}

// Watch polls the tokens file every interval (default 5s when <= 0) and
// reloads it when its modification time or size changes, until ctx ends.
// Reload failures are logged and the previous tokens kept. It returns nil
// when ctx ends, so it fits a lifecycle.Group.
func (s *TokenSet) Watch(ctx context.Context, interval time.Duration, logger *slog.Logger) error {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fi, err := os.Stat(s.path)
		if err != nil {
			logger.Warn("tokens file not readable; keeping previous tokens", "path", s.path, "err", err)
			continue
		}
		s.mu.RLock()
		changed := !fi.ModTime().Equal(s.modTime) || fi.Size() != s.size
		s.mu.RUnlock()
		if !changed {
			continue
		}
		if err := s.Reload(); err != nil {
			logger.Error("tokens file reload failed; keeping previous tokens", "path", s.path, "err", err)
			// Remember the attempt so a broken file is not re-read every tick.
			s.mu.Lock()
			s.modTime, s.size = fi.ModTime(), fi.Size()
			s.mu.Unlock()
			continue
		}
		logger.Info("tokens file reloaded", "path", s.path, "tokens", s.Len())
	}
}
