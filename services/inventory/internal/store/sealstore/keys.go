package sealstore

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// KEK is a key-encryption key from the --kek-file.
type KEK struct {
	// ID names the key without revealing it: the first 6 bytes of
	// SHA-256("dialtone-kek\x00" || key), in hex.
	ID  string
	key []byte
}

// NewKEKLine returns a fresh KEK as a line for a --kek-file (base64).
func NewKEKLine() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

func kekID(key []byte) string {
	sum := sha256.Sum256(append([]byte("dialtone-kek\x00"), key...))
	return hex.EncodeToString(sum[:6])
}

// ParseKEKs reads a --kek-file: one base64 (standard or URL alphabet) 32-byte
// key per line, the first the current one; later lines are previous keys
// kept while a rotation rewraps the data keys. Blank lines and lines
// starting with '#' are ignored. Errors never show key material.
func ParseKEKs(data []byte) ([]KEK, error) {
	var out []KEK
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		var key []byte
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if k, err := enc.DecodeString(s); err == nil {
				key = k
				break
			}
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("line %d: not a base64 32-byte key (make one with: head -c 32 /dev/urandom | base64)", line)
		}
		out = append(out, KEK{ID: kekID(key), key: key})
	}
	if len(out) == 0 {
		return nil, errors.New("no key in the file (make one with: head -c 32 /dev/urandom | base64)")
	}
	return out, nil
}

// ReadKEKFile reads and parses path.
func ReadKEKFile(path string) ([]KEK, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--kek-file: %w", err)
	}
	keks, err := ParseKEKs(data)
	if err != nil {
		return nil, fmt.Errorf("--kek-file %s: %w", path, err)
	}
	return keks, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal encrypts pt with a random 96-bit nonce; the output is nonce || ciphertext.
func seal(a cipher.AEAD, pt, aad []byte) []byte {
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(pt)+a.Overhead())
	_, _ = rand.Read(nonce)
	return a.Seal(nonce, nonce, pt, aad)
}

func open(a cipher.AEAD, ct, aad []byte) ([]byte, error) {
	if len(ct) < a.NonceSize()+a.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	return a.Open(nil, ct[:a.NonceSize()], ct[a.NonceSize():], aad)
}

// dataKeyRec is a stored data key: the KEK that wraps it and the wrapped key.
type dataKeyRec struct {
	kekID   string
	wrapped []byte
	created int64 // unix seconds
}

func (d dataKeyRec) encode() []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendString(b, d.kekID)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, d.wrapped)
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(d.created))
}

func decodeDataKey(b []byte) (dataKeyRec, error) {
	var d dataKeyRec
	fs, ok := fields(b)
	if !ok {
		return d, errors.New("corrupt data key record")
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			d.kekID = string(f.val)
		case 2:
			d.wrapped = bytes.Clone(f.val)
		case 3:
			v, _ := protowire.ConsumeVarint(f.raw[protowire.SizeTag(3):])
			d.created = int64(v)
		}
	}
	if d.kekID == "" || len(d.wrapped) == 0 {
		return d, errors.New("corrupt data key record")
	}
	return d, nil
}

func wrapAAD(dkID string) []byte { return []byte("dialtone-dk\x00" + dkID) }

func sealAAD(kind byte, id string) []byte {
	return append([]byte{'d', 't', 's', 0, kind, 0}, id...)
}

// blob is the sealed field's payload: version 1, key id, nonce || ciphertext.
func encodeBlob(keyID string, ct []byte) []byte {
	b := []byte{1, byte(len(keyID))}
	b = append(b, keyID...)
	return append(b, ct...)
}

func decodeBlob(b []byte) (keyID string, ct []byte, err error) {
	if len(b) < 2 || b[0] != 1 || len(b) < 2+int(b[1]) {
		return "", nil, errors.New("unknown sealed value format")
	}
	return string(b[2 : 2+int(b[1])]), b[2+int(b[1]):], nil
}
